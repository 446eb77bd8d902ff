#!/usr/bin/env bash
# Runs HIL scenarios, each in a fresh QEMU guest booting Debian's kernel.
#
#   bash hil/run.sh [--bin PATH]... [--keep] [scenario...]
#
# Without names, every scenario under hil/scenarios/ runs. --bin PATH (repeatable;
# or HIL_BINARIES="a b") copies extra host executables and their shared libraries
# into the guest's /usr/local/bin. Prints one line per scenario:
#   PASS name key=value ... time_s=N      or      FAIL name reason
# and exits non-zero if any failed. Logs: .build/hil/runs/<stamp>/<name>/.
set -uo pipefail
export PYTHONDONTWRITEBYTECODE=1
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/debian/image.sh"

extra_bins=(${HIL_BINARIES:-})
keep=0
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) extra_bins+=("$2"); shift 2;;
    --bin=*) extra_bins+=("${1#--bin=}"); shift;;
    --keep) keep=1; shift;;
    -h|--help) sed -n '2,12p' "$0"; exit 0;;
    -*) hil_die "unknown option $1";;
    *) names+=("$1"); shift;;
  esac
done
if [ ${#names[@]} -eq 0 ]; then
  for d in "$HIL_DIR"/scenarios/*/; do [ -f "$d/scenario.conf" ] && names+=("$(basename "$d")"); done
fi

# Children to end on exit (QEMU, host drivers): only the ones this script started.
HIL_PIDS=()
SOCKDIRS=()
cleanup() {
  local p
  for p in "${HIL_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.2
  for p in "${HIL_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${SOCKDIRS[@]}"; do rm -rf "$p"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

results=()
nfail=0
report() {  # report PASS|FAIL name text
  local line="$1 $2 $3"
  echo "$line"
  results+=("$line")
  [ "$1" = PASS ] || nfail=$((nfail + 1))
}

prep_problem=""
if [ ! -f "$HIL_STATE" ]; then
  prep_problem="rig not prepared: run 'bash hil/prepare.sh' (as root) first"
else
  # shellcheck disable=SC1090
  source "$HIL_STATE"
  for f in "$HIL_KERNEL" "$HIL_MODDIR/modules.dep" "$HIL_GPIOSIM_KO" "$HIL_HELPERS/monotime" /bin/busybox; do
    [ -e "$f" ] || prep_problem="missing $f: run 'bash hil/prepare.sh' again"
  done
  command -v qemu-system-x86_64 >/dev/null || prep_problem="qemu-system-x86_64 not installed: run 'bash hil/prepare.sh'"
  command -v python3 >/dev/null || prep_problem="python3 not installed: run 'bash hil/prepare.sh'"
fi

run_stamp=$(date +%Y%m%d-%H%M%S)
runs_dir=$HIL_CACHE/runs/$run_stamp
# Keep the logs of the last 10 runs.
if [ -d "$HIL_CACHE/runs" ]; then
  ls -1d "$HIL_CACHE"/runs/*/ 2>/dev/null | head -n -9 | while read -r d; do rm -rf "$d"; done
fi
accel=""
t_all=$(hil_now)

# build_initramfs ROOT OUT conf-vars...: assembles the guest's root file system.
build_initramfs() {
  local root=$1 out=$2 b ko
  rm -rf "$root"; mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,hil/bin,etc/hil,lib/modules/hil,lib64,proc,sys,dev,tmp,run,root}
  cp /bin/busybox "$root/bin/busybox"
  install -m 755 "$HIL_DIR/guest/init" "$root/init"
  install -m 644 "$HIL_DIR/guest/lib.sh" "$root/hil/lib.sh"
  install -m 644 "$HIL_DIR/guest/gateway.sh" "$root/hil/gateway.sh"
  cp "$HIL_HELPERS"/* "$root/hil/bin/"
  # Modules: configfs and gpio-sim-oot always, then the scenario's (with dependencies).
  : > "$root/etc/hil/modules"
  local mods
  mods=$(hil_module_paths "$HIL_MODDIR" configfs "${MODULES[@]}") || return 1
  if grep -q '^MISSING ' <<<"$mods"; then
    echo "kernel $HIL_KVER has no module $(grep '^MISSING ' <<<"$mods" | cut -d' ' -f2 | tr '\n' ' ')"; return 1
  fi
  while read -r ko; do
    mkdir -p "$root/lib/modules/hil/$(dirname "$ko")"
    cp "$HIL_MODDIR/$ko" "$root/lib/modules/hil/$ko"
    echo "$ko" >> "$root/etc/hil/modules"
  done <<<"$mods"
  # gpio-sim right after configfs (it needs configfs' symbols), before the rest.
  mkdir -p "$root/lib/modules/hil/extra"
  cp "$HIL_GPIOSIM_KO" "$root/lib/modules/hil/extra/gpio-sim-oot.ko"
  sed -i '/\/configfs\.ko$/a extra/gpio-sim-oot.ko' "$root/etc/hil/modules"
  for b in "${BINARIES[@]}"; do
    hil_copy_with_libs "$root" "$(command -v "$b" || echo "$b")" /usr/bin || return 1
  done
  for b in "${extra_bins[@]}"; do
    hil_copy_with_libs "$root" "$(command -v "$b" || echo "$b")" /usr/local/bin || return 1
  done
  local f
  for f in "${FILES[@]}"; do   # "HOSTPATH=GUESTPATH"
    [ -e "${f%%=*}" ] || { echo "file ${f%%=*} not found"; return 1; }
    mkdir -p "$root$(dirname "${f#*=}")"; cp -rL "${f%%=*}" "$root${f#*=}"
  done
  install -m 755 "$sdir/guest.sh" "$root/scenario.sh"
  echo "$GUEST_TIMEOUT" > "$root/etc/hil/timeout"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
}

# build_debian_guest WORK: the Debian guest of a GUEST=debian scenario: the cached base
# image (built on first use), a qcow2 overlay of it for this run, and a payload disk
# (ext4, read-only in the guest, mounted at /hil): the scenario, the guest helpers, the
# static tools, the project's .deb (and its +hil1 upgrade) and the scenario's FILES.
HIL_DEBIAN_IMAGE=""; HIL_DEBIAN_INITRD=""; HIL_DEBS=""
build_debian_guest() {
  local work=$1 p f deb miss=""
  if [ -z "$HIL_DEBIAN_IMAGE" ]; then
    HIL_DEBIAN_IMAGE=$(hil_debian_image) || { echo "$HIL_DEBIAN_IMAGE"; HIL_DEBIAN_IMAGE=""; return 1; }
    HIL_DEBIAN_INITRD=$(hil_debian_initrd) || { echo "$HIL_DEBIAN_INITRD"; HIL_DEBIAN_INITRD=""; return 1; }
  fi
  if [ -z "$HIL_DEBS" ]; then
    HIL_DEBS=$(hil_debian_debs "$(dirname "${HIL_GATEWAY_BIN:-$HIL_REPO/.build/debug/panic-gateway}")") || { echo "$HIL_DEBS"; HIL_DEBS=""; return 1; }
  fi
  deb=${HIL_DEBS%% *}
  # Every dependency of the package must be in the image (the guest has no network).
  for p in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*//' | awk 'NF{print $1}'); do
    grep -q "^$p " "${HIL_DEBIAN_IMAGE%.img}.manifest" || miss="$miss $p"
  done
  [ -z "$miss" ] || { echo "the guest image lacks the package's dependencies:$miss (add them to hil/debian/packages)"; return 1; }
  qemu-img create -q -f qcow2 -F raw -b "$HIL_DEBIAN_IMAGE" "$work/root.qcow2" || { echo "qemu-img create failed"; return 1; }
  local pl=$work/payload
  rm -rf "$pl"; mkdir -p "$pl/bin" "$pl/debs"
  install -m 755 "$sdir/guest.sh" "$pl/scenario.sh"
  install -m 644 "$HIL_DIR/guest/lib.sh" "$pl/lib.sh"
  install -m 644 "$HIL_DIR/guest/gateway.sh" "$pl/gateway.sh"
  install -m 644 "$HIL_DIR/debian/guest.sh" "$pl/debian.sh"
  cp "$HIL_HELPERS"/* "$pl/bin/"
  ln "$deb" "$pl/debs/panic-gateway.deb" 2>/dev/null || cp "$deb" "$pl/debs/panic-gateway.deb"
  ln "${HIL_DEBS##* }" "$pl/debs/panic-gateway-upgrade.deb" 2>/dev/null || cp "${HIL_DEBS##* }" "$pl/debs/panic-gateway-upgrade.deb"
  for f in "${FILES[@]}"; do   # "HOSTPATH=GUESTPATH" (GUESTPATH under /hil)
    [ -e "${f%%=*}" ] || { echo "file ${f%%=*} not found"; return 1; }
    mkdir -p "$pl$(dirname "${f#*=}")"; cp -rL "${f%%=*}" "$pl${f#*=}"
  done
  echo "$GUEST_TIMEOUT" > "$pl/timeout"
  local mb; mb=$(du -sm "$pl" | cut -f1)
  truncate -s "$(( mb + 64 ))M" "$work/payload.img"
  mkfs.ext4 -q -F -L hilpayload -d "$pl" "$work/payload.img" || { echo "mkfs.ext4 of the payload failed"; return 1; }
  rm -rf "$pl"
}

for name in "${names[@]}"; do
  t_sc=$(hil_now)
  sdir=$HIL_DIR/scenarios/$name
  if [ -n "$prep_problem" ]; then report FAIL "$name" "$prep_problem"; continue; fi
  if [ ! -f "$sdir/scenario.conf" ] || [ ! -f "$sdir/guest.sh" ]; then
    report FAIL "$name" "no such scenario (need hil/scenarios/$name/scenario.conf and guest.sh)"; continue
  fi
  work=$runs_dir/$name; mkdir -p "$work"
  sock=$(mktemp -d "${TMPDIR:-/tmp}/hil.XXXXXX"); SOCKDIRS+=("$sock")
  # Scenario settings (see hil/README.md). Defaults first.
  BINARIES=(); MODULES=(); QEMU_ARGS=(); FILES=(); REQUIRES=(); GUEST_TIMEOUT=90; HOST_TIMEOUT=150; MEMORY=512
  PANIC_BINS=(); REBOOT=0; GUEST=busybox
  unset -f scenario_setup
  HIL_SOCK=$sock HIL_WORK=$work
  # shellcheck disable=SC1090
  source "$sdir/scenario.conf"
  missing=""
  for r in "${REQUIRES[@]}"; do
    case "$r" in
      pkg:*) hil_pkg_installed "${r#pkg:}" || missing="$missing Debian package ${r#pkg:} not installed (run bash hil/prepare.sh);";;
      *) command -v "$r" >/dev/null || [ -x "$r" ] || missing="$missing $r not found;";;
    esac
  done
  for b in "${BINARIES[@]}" "${extra_bins[@]}"; do
    command -v "$b" >/dev/null || [ -x "$b" ] || missing="$missing binary $b not found;"
  done
  if [ -n "$missing" ]; then report FAIL "$name" "cannot run:${missing%;}"; continue; fi
  if [ "$GUEST" = debian ]; then
    [ -n "$accel" ] || accel=$(hil_pick_accel)
    if ! build_debian_guest "$work" > "$work/debian-guest.log" 2>&1; then
      report FAIL "$name" "Debian guest: $(tail -n1 "$work/debian-guest.log") (log: $work/debian-guest.log)"; continue
    fi
  fi
  # The project's binaries, copied now (they may be rebuilt under us) and stripped.
  for b in "${PANIC_BINS[@]}"; do
    case "$b" in
      panic-gateway) src=${HIL_GATEWAY_BIN:-$HIL_REPO/.build/debug/panic-gateway};;
      panic-receiver) src=${HIL_RECEIVER_BIN:-$HIL_REPO/.build/debug/panic-receiver};;
      panicctl) src=${HIL_PANICCTL_BIN:-$HIL_REPO/.build/debug/panicctl};;
      *) missing="$missing unknown PANIC_BINS entry $b;"; continue;;
    esac
    if staged=$(hil_stage_bin "$src" "$work/bin"); then BINARIES+=("$staged")
    else missing="$missing $b: $staged;"; fi
  done
  if [ -n "$missing" ]; then report FAIL "$name" "cannot run:${missing%;}"; continue; fi
  # Host-side preparation the scenario defines (disk images, …).
  if declare -F scenario_setup >/dev/null; then
    if ! out=$(scenario_setup 2>&1); then
      report FAIL "$name" "setup: $(echo "$out" | tail -n1)"; continue
    fi
  fi

  if [ "$GUEST" = debian ]; then
    boot_args=(-kernel "$HIL_KERNEL" -initrd "$HIL_DEBIAN_INITRD"
      -append "root=/dev/vda rw console=ttyS0 panic=-1 loglevel=3 systemd.show_status=error"
      -drive "file=$work/root.qcow2,if=virtio,format=qcow2,cache=none"
      -drive "file=$work/payload.img,if=virtio,format=raw,readonly=on")
  else
    if ! err=$(build_initramfs "$work/root" "$work/initrd.gz" 2>&1); then
      report FAIL "$name" "initramfs: $(echo "$err" | tail -n1)"; continue
    fi
    boot_args=(-kernel "$HIL_KERNEL" -initrd "$work/initrd.gz"
      -append "console=ttyS0 panic=-1 loglevel=3")
  fi
  [ "$keep" = 1 ] || rm -rf "$work/root" "$work/bin"
  [ -n "$accel" ] || accel=$(hil_pick_accel)
  if [ "$accel" = kvm ]; then accel_args=(-enable-kvm -cpu host); else accel_args=(-accel tcg); fi

  reboot_args=(-no-reboot)
  [ "$REBOOT" = 1 ] && reboot_args=()    # system_reset reboots the guest (power cycle) instead of ending QEMU
  qemu_cmd=(qemu-system-x86_64 "${accel_args[@]}" -m "$MEMORY" -smp 1
    -nodefaults -no-user-config -display none "${reboot_args[@]}" -nic none
    -chardev "file,id=con,path=$work/console.log" -serial chardev:con
    -qmp "unix:$sock/qmp.sock,server=on,wait=off"
    "${boot_args[@]}"
    "${QEMU_ARGS[@]}")
  printf '%q ' "${qemu_cmd[@]}" > "$work/qemu.cmd"
  : > "$work/console.log"
  timeout --kill-after=5 "$HOST_TIMEOUT" "${qemu_cmd[@]}" >"$work/qemu.out" 2>&1 &
  qpid=$!; HIL_PIDS+=("$qpid")
  hpid=""
  if [ -x "$sdir/host" ]; then
    HIL_WORK=$work HIL_SOCK=$sock HIL_CONSOLE=$work/console.log HIL_RESULTS=$work/host.results \
    PYTHONPATH=$HIL_DIR${PYTHONPATH:+:$PYTHONPATH} \
      timeout --kill-after=5 "$HOST_TIMEOUT" "$sdir/host" >"$work/host.log" 2>&1 &
    hpid=$!; HIL_PIDS+=("$hpid")
  fi
  wait "$qpid"; qrc=$?
  [ "$keep" = 1 ] || rm -f "$work/initrd.gz" "$work/disk.img" "$work/root.qcow2" "$work/payload.img"   # large; --keep keeps them
  hrc=0
  if [ -n "$hpid" ]; then
    # The guest is gone: the host driver has a few seconds to notice and finish.
    # (A polling loop, not a watchdog subshell: a subshell inherits the EXIT trap and
    # would run cleanup when killed.)
    for _ in $(seq 100); do kill -0 "$hpid" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$hpid" 2>/dev/null
    wait "$hpid"; hrc=$?
  fi
  secs=$(awk -v a="$t_sc" -v b="$(hil_now)" 'BEGIN{printf "%.1f", b-a}')
  if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    report FAIL "$name" "QEMU timed out after ${HOST_TIMEOUT}s ($accel); console: $work/console.log"; continue
  fi
  if [ "$qrc" != 0 ]; then
    report FAIL "$name" "QEMU exited $qrc: $(tail -n1 "$work/qemu.out")"; continue
  fi
  # Generic verdict from the console, before the scenario's own check.
  gfail=$(grep -a -m1 -o '@@HIL-FAIL .*' "$work/console.log" | sed 's/^@@HIL-FAIL //; s/\r$//')
  grc=$(grep -a -o '@@HIL-EXIT rc=[0-9]*' "$work/console.log" | tail -n1 | sed 's/.*rc=//')
  if [ -n "$gfail" ]; then
    report FAIL "$name" "guest: $gfail (time_s=$secs, console: $work/console.log)"; continue
  elif [ "$hrc" != 0 ]; then
    report FAIL "$name" "host driver exited $hrc: $(tail -n1 "$work/host.log") (log: $work/host.log)"; continue
  elif [ -z "$grc" ]; then
    report FAIL "$name" "guest never reached the end of its scenario (no @@HIL-EXIT; last console line: '$(grep -a . "$work/console.log" | tail -n1 | tr -d '\r' | cut -c1-120)'; console: $work/console.log)"; continue
  elif [ "$grc" != 0 ]; then
    report FAIL "$name" "guest scenario exited $grc (time_s=$secs, console: $work/console.log)"; continue
  fi
  if out=$(HIL_WORK=$work HIL_CONSOLE=$work/console.log HIL_RESULTS=$work/host.results \
           PYTHONPATH=$HIL_DIR${PYTHONPATH:+:$PYTHONPATH} "$sdir/check" 2>&1); then
    report PASS "$name" "$(echo "$out" | tail -n1) accel=$accel time_s=$secs"
  else
    report FAIL "$name" "$(echo "$out" | tail -n1) (time_s=$secs, console: $work/console.log)"
  fi
done

total=$(awk -v a="$t_all" -v b="$(hil_now)" 'BEGIN{printf "%.1f", b-a}')
echo "hil: ${#results[@]} scenario(s) in ${total}s"
echo "hil: $(( ${#results[@]} - nfail )) passed, $nfail failed"
# The figures of this run, one line per scenario (also kept with the run's logs).
if [ ${#results[@]} -gt 0 ]; then
  mkdir -p "$runs_dir"
  { echo "# hil run $run_stamp: ${#results[@]} scenario(s) in ${total}s, $(( ${#results[@]} - nfail )) passed, $nfail failed, kernel ${HIL_KVER:-?}, accel ${accel:-?}"
    printf '%s\n' "${results[@]}"; } > "$runs_dir/results.txt"
  cp "$runs_dir/results.txt" "$HIL_CACHE/results.txt"
fi
[ "$nfail" -eq 0 ]
