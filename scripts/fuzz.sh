#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted bytes, with libFuzzer and ASan.
#
#   scripts/fuzz.sh all --seconds 60          # every harness, 60 s each
#   scripts/fuzz.sh dc09-frame modbus --seconds 20
#   scripts/fuzz.sh all --replay-only         # regressions and seeds only, no fuzzing
#   scripts/fuzz.sh --list
#
# Builds Sources/PanicFuzz (product panic-fuzz) with -sanitize=fuzzer,address
# in its own scratch path (.build-fuzz), so it never disturbs .build. For each
# target: replays fuzz/regressions/<target>/* and fuzz/corpus/<target> (a
# crash there fails the run), then fuzzes for N seconds. A new crash (or
# leak, timeout, out-of-memory) is copied into fuzz/regressions/<target>/ and
# the run exits non-zero; commit the file, fix the bug, and it is replayed
# from then on. Summary: .build-fuzz/fuzz-results.json.
#
# Options: --seconds N (default 60), --replay-only, --no-build, --jobs N is not
# offered on purpose (two cores; the harnesses are single-threaded).
# Environment: SWIFT (default swift), FUZZ_NICE (default 15, for the build and the fuzzing),
# FUZZ_FLAGS (extra libFuzzer flags, e.g. "-max_len=8192").
set -uo pipefail
# The whole script is one block, read before it runs: editing (or git checking
# out) this file during a run cannot change the run.
{

cd "$(dirname "$0")/.."
ROOT=$PWD
SWIFT=${SWIFT:-swift}
NICE=${FUZZ_NICE:-15}
SCRATCH=$ROOT/.build-fuzz
BIN=$SCRATCH/debug/panic-fuzz
WORK=$SCRATCH/fuzz
RESULTS=$SCRATCH/fuzz-results.json

seconds=60
replay_only=0
build=1
list=0
targets=()
while (($#)); do
    case $1 in
        --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
        --seconds=*) seconds=${1#*=}; shift ;;
        --replay-only) replay_only=1; shift ;;
        --no-build) build=0; shift ;;
        --list) list=1; shift ;;
        -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
        -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds wants whole seconds, not $seconds" >&2; exit 2; }

if ((build)); then
    echo "== building panic-fuzz (libFuzzer + ASan) in .build-fuzz"
    mkdir -p "$SCRATCH"
    nice -n "$NICE" "$SWIFT" build --scratch-path "$SCRATCH" -c debug --product panic-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >"$SCRATCH/fuzz-build.log" 2>&1
    rc=$?
    # The linker's harmless ASan warnings ("Cannot export local symbol") are left in the log only.
    grep -v "Cannot export local symbol" "$SCRATCH/fuzz-build.log" | grep -E "error|warning: unre|Compiling panic_fuzz|Build" | tail -n 20
    if ((rc != 0)); then
        echo "fuzz.sh: the build failed; see ${SCRATCH#$ROOT/}/fuzz-build.log" >&2
        exit 1
    fi
fi
[[ -x $BIN ]] || { echo "fuzz.sh: $BIN is missing; run without --no-build" >&2; exit 1; }

known=$("$BIN" --list | cut -f1)
if ((list)); then "$BIN" --list; exit 0; fi
if ((${#targets[@]} == 0)); then echo "fuzz.sh: name targets, or all (see --list)" >&2; exit 2; fi
if [[ ${targets[*]} == all ]]; then mapfile -t targets <<<"$known"; fi
for t in "${targets[@]}"; do
    grep -qx -- "$t" <<<"$known" || { echo "fuzz.sh: unknown target $t; known: $(echo $known)" >&2; exit 2; }
done

# libFuzzer handles the crash itself: the Swift runtime's backtracer would
# only slow each crash down. Symbolise with the toolchain's llvm-symbolizer.
export SWIFT_BACKTRACE=enable=no
symbolizer=$(dirname "$(readlink -f "$(command -v "$SWIFT")")")/llvm-symbolizer
[[ -x $symbolizer ]] && export ASAN_SYMBOLIZER_PATH=$symbolizer
# malloc_context_size=5: allocation stacks of 5 frames, not 30 (a third faster; Swift code rarely needs more).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:handle_abort=1:allocator_may_return_null=1:malloc_context_size=5}
demangle() { if "$SWIFT" demangle --help >/dev/null 2>&1; then "$SWIFT" demangle --simplified; else cat; fi; }

mkdir -p "$WORK"
failed=0
json_rows=()

# Prints the interesting part of a crash log: the error and the top frames.
show_crash() {
    grep -E "Fatal error|fuzz property|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|SUMMARY|^ +#[0-9]+ " "$1" \
        | grep -vE " in (fuzzer::|__sanitizer|__asan|___interceptor|__interceptor|__libc_start|_start)|libc\.so" \
        | awk '/^ +#[0-9]+ / && done { next } /LLVMFuzzerTestOneInput/ { done = 1 } { print }' \
        | head -n 24 | demangle | sed 's/^/    /'
}

stat_of() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1; }

for t in "${targets[@]}"; do
    corpus=$ROOT/fuzz/corpus/$t
    regressions=$ROOT/fuzz/regressions/$t
    work=$WORK/$t
    artifacts=$work/artifacts
    mkdir -p "$corpus" "$regressions" "$work/corpus" "$artifacts"
    log=$work/fuzz.log
    status=ok
    new_crashes=()
    execs=0 rate=0 new_units=0 rss=0 replayed=0

    # 1. What crashed before, and the seeds, must run clean.
    mapfile -t old < <(find "$regressions" -maxdepth 1 -type f ! -name 'README*' ! -name '.*' | sort)
    seeds=$(find "$corpus" -maxdepth 1 -type f | wc -l)
    replayed=$((${#old[@]} + seeds))
    for input in "${old[@]}" ; do
        if ! PANIC_FUZZ_TARGET=$t "$BIN" -runs=1 "$input" >"$work/replay.log" 2>&1; then
            status=regression
            echo "!! $t: regression input still crashes: ${input#$ROOT/}"
            show_crash "$work/replay.log"
        fi
    done
    if ((seeds)) && [[ $status == ok ]]; then
        if ! PANIC_FUZZ_TARGET=$t "$BIN" -runs=0 -artifact_prefix="$artifacts/" "$corpus" >"$work/replay.log" 2>&1; then
            status=seed-crash
            echo "!! $t: a seed in fuzz/corpus/$t crashes"
            show_crash "$work/replay.log"
        fi
    fi

    # 2. Fuzz for the time given (not after a failed replay: it would only
    # rediscover the same crash).
    if [[ $status == ok ]] && ((!replay_only)) && ((seconds > 0)); then
        before=$(mktemp)
        ls "$artifacts" >"$before"
        # shellcheck disable=SC2086
        PANIC_FUZZ_TARGET=$t nice -n "$NICE" "$BIN" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$artifacts/" ${FUZZ_FLAGS:-} "$work/corpus" "$corpus" >"$log" 2>&1
        rc=$?
        execs=$(stat_of "$log" number_of_executed_units); execs=${execs:-0}
        rate=$(stat_of "$log" average_exec_per_sec); rate=${rate:-0}
        new_units=$(stat_of "$log" new_units_added); new_units=${new_units:-0}
        rss=$(stat_of "$log" peak_rss_mb); rss=${rss:-0}
        for a in "$artifacts"/*; do
            [[ -f $a ]] || continue
            name=$(basename "$a")
            grep -qx -- "$name" "$before" && continue
            [[ $name == slow-unit-* ]] && continue  # slow, not wrong: left in the artifacts directory
            cp "$a" "$regressions/$name"
            new_crashes+=("fuzz/regressions/$t/$name")
        done
        rm -f "$before"
        if ((${#new_crashes[@]})) || ((rc != 0)); then
            status=crash
            echo "!! $t: crash after $execs executions; saved: ${new_crashes[*]:-(no artifact; see ${log#$ROOT/})}"
            show_crash "$log"
        fi
    fi

    # The intake harness's SQLite files of runs that crashed (a clean exit removes its own).
    for d in /dev/shm/panic-fuzz-intake-* "${TMPDIR:-/tmp}"/panic-fuzz-intake-*; do
        [[ -d $d ]] && ! kill -0 "${d##*-}" 2>/dev/null && rm -rf "$d"
    done
    [[ $status == ok ]] || failed=1
    printf '%-16s %-10s %10s execs %8s exec/s  %4s new units  %5s MB  (%d replayed)\n' \
        "$t" "$status" "$execs" "$rate" "$new_units" "$rss" "$replayed"
    crashes_json=$(printf '"%s",' "${new_crashes[@]}"); crashes_json="[${crashes_json%,}]"
    [[ $crashes_json == '[""]' ]] && crashes_json='[]'
    json_rows+=("{\"target\":\"$t\",\"status\":\"$status\",\"seconds\":$((replay_only ? 0 : seconds)),\"executions\":$execs,\"exec_per_second\":$rate,\"new_units\":$new_units,\"peak_rss_mb\":$rss,\"replayed_inputs\":$replayed,\"new_crashes\":$crashes_json,\"log\":\"${log#$ROOT/}\"}")
done

{
    printf '{"finished_at":"%s","ok":%s,"targets":[\n' "$(date -u +%FT%TZ)" "$( ((failed)) && echo false || echo true)"
    (IFS=$'\n'; echo "${json_rows[*]}" | sed '$!s/$/,/')
    printf ']}\n'
} >"$RESULTS"
echo "== summary in ${RESULTS#$ROOT/}"
if ((failed)); then
    echo "fuzz.sh: failures above; new crash inputs are in fuzz/regressions/ (commit them with the fix)" >&2
    exit 1
fi
exit 0
}
