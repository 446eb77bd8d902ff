# Guest-side helpers for scenarios that run panic-gateway and panic-receiver in the
# guest (busybox sh); installed as /hil/gateway.sh. Source it after /hil/lib.sh.
# Needs the scenario's PANIC_BINS (the binaries) and /usr/bin/sqlite3 (BINARIES).
# The receiver listens on the guest's loopback with plain HTTP (allowed there).

HIL_GW_ID=${HIL_GW_ID:-hil-gw}
HIL_RX_PORT=${HIL_RX_PORT:-8080}
HIL_RX_URL="http://127.0.0.1:$HIL_RX_PORT"
HIL_GW_BACKOFF_MS=${HIL_GW_BACKOFF_MS:-50..500}

# hil_wait_file_line FILE REGEX TIMEOUT_MS [PID]: waits until FILE has a line
# matching REGEX (grep -E); fails early if PID (given) exits. Returns 1 on timeout/exit.
hil_wait_file_line() {
  local deadline=$(( $(monotime) + $3 * 1000000 ))
  while [ "$(monotime)" -lt "$deadline" ]; do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2>/dev/null; then
      grep -qE "$2" "$1" 2>/dev/null && return 0
      return 1
    fi
    usleep 10000
  done
  return 1
}

# hil_tail_marks FILE TAG [N]: prints the last N (10) lines of FILE as "@@HIL TAG …" markers.
hil_tail_marks() { tail -n "${3:-10}" "$1" 2>/dev/null | tr -d '\r' | sed "s/^/@@HIL $2 /"; }

# hil_gw_keygen KEYFILE: writes a new Ed25519 key (mode 0600); prints its public key.
hil_gw_keygen() {
  local out
  out=$(panic-gateway keygen --out "$1" 2>&1) || hil_fail "panic-gateway keygen: $(echo "$out" | tr '\n' ' ')"
  echo "$out" | sed -n 's/^public key: *//p'
}

# hil_receiver_start DB PUBKEY LOG [TIMEOUT_MS]: writes /tmp/receiver.toml (gateway
# $HIL_GW_ID with PUBKEY), starts `panic-receiver serve` (stderr to LOG, stdout to
# LOG.out) and waits for its "listening" line. Sets HIL_RX_PID.
hil_receiver_start() {
  cat > /tmp/receiver.toml <<EOF
listen = "127.0.0.1:$HIL_RX_PORT"
database = "$1"

[[gateways]]
id = "$HIL_GW_ID"
public_keys = ["$2"]
EOF
  panic-receiver serve --config /tmp/receiver.toml > "$3.out" 2> "$3" &
  HIL_RX_PID=$!
  if ! hil_wait_file_line "$3.out" '^listening ' "${4:-30000}" "$HIL_RX_PID"; then
    hil_tail_marks "$3" receiver-log
    hil_fail "panic-receiver did not say 'listening' within ${4:-30000} ms (alive: $(kill -0 $HIL_RX_PID 2>/dev/null && echo yes || echo no))"
  fi
}

# hil_stop PID [TIMEOUT_MS]: SIGTERM, wait (default 10 s), then SIGKILL. Returns the exit status.
hil_stop() {
  local i=0 n=$(( ${2:-10000} / 20 ))
  kill -TERM "$1" 2>/dev/null
  while kill -0 "$1" 2>/dev/null && [ "$i" -lt "$n" ]; do usleep 20000; i=$((i + 1)); done
  kill -0 "$1" 2>/dev/null && { kill -KILL "$1" 2>/dev/null; hil_mark killed pid="$1" after_ms="${2:-10000}"; }
  wait "$1" 2>/dev/null
}

# hil_gw_config FILE STATE_DIR URL INPUTS_TOML: writes a gateway configuration: id
# $HIL_GW_ID, state and key in STATE_DIR, one uplink "central" at URL (heartbeat
# $HIL_GW_HEARTBEAT_S, default 1 s; back-off $HIL_GW_BACKOFF_MS, default 50..500 ms),
# and the [[inputs]] tables given as TOML text.
hil_gw_config() {
  cat > "$1" <<EOF
gateway_id = "$HIL_GW_ID"
site = "HIL guest"
state_dir = "$2"
key_file = "$2/gateway.key"

$4

[[uplinks]]
name = "central"
url = "$3"
heartbeat_interval_s = ${HIL_GW_HEARTBEAT_S:-1}
backoff_initial_ms = ${HIL_GW_BACKOFF_MS%%..*}
backoff_max_ms = ${HIL_GW_BACKOFF_MS##*..}
EOF
}

# hil_gw_start CONFIG LOG [TIMEOUT_MS]: starts `panic-gateway run --log-level debug`
# (stderr to LOG) and waits for its "running" line (inputs open). Sets HIL_GW_PID.
hil_gw_start() {
  panic-gateway run --config "$1" --log-level debug > "$2.out" 2> "$2" &
  HIL_GW_PID=$!
  if ! hil_wait_file_line "$2" 'running' "${3:-30000}" "$HIL_GW_PID"; then
    hil_tail_marks "$2" gateway-log 20
    hil_fail "panic-gateway did not say 'running' within ${3:-30000} ms (alive: $(kill -0 $HIL_GW_PID 2>/dev/null && echo yes || echo no))"
  fi
}

# hil_sql DB SQL: one query, no header, fields separated by a space; waits on locks.
hil_sql() { sqlite3 -batch -noheader -separator ' ' -cmd '.timeout 5000' "$1" "$2"; }

# hil_wait_count DB SQL MIN TIMEOUT_MS: polls SQL (a count) every 20 ms until it is
# at least MIN; prints the last value; returns 1 on timeout.
hil_wait_count() {
  local deadline=$(( $(monotime) + $4 * 1000000 )) v=""
  while :; do
    v=$(hil_sql "$1" "$2" 2>/dev/null)
    [ -n "$v" ] && [ "$v" -ge "$3" ] 2>/dev/null && { echo "$v"; return 0; }
    [ "$(monotime)" -lt "$deadline" ] || { echo "${v:-none}"; return 1; }
    usleep 20000
  done
}

# hil_dump_rx_alerts DB [TAG]: one "@@HIL TAG …" marker (default rx-alert) per alert
# the receiver stored, in arrival order (rowid): seq, kind, restores, input, the
# times (UTC ns; accepted: the gateway's RFC 3339 accepted_at), id and the detail
# (spaces as _).
hil_dump_rx_alerts() {
  hil_sql "$1" "SELECT '@@HIL ${2:-rx-alert} seq=' || sequence || ' kind=' || kind
      || ' restores=' || coalesce(json_extract(CAST(body AS TEXT), '\$.restores'), '-')
      || ' input=' || coalesce(json_extract(CAST(body AS TEXT), '\$.input'), '-')
      || ' occurred_ns=' || occurred_at_ns || ' received_ns=' || received_at_ns
      || ' accepted=' || coalesce(json_extract(CAST(body AS TEXT), '\$.accepted_at'), '-')
      || ' id=' || id || ' test=' || test
      || ' detail=' || replace(coalesce(json_extract(CAST(body AS TEXT), '\$.detail'), '-'), ' ', '_')
    FROM alerts ORDER BY rowid"
}

# hil_edge_marks LOG [TAG]: the gateway's debug "edge" lines as "@@HIL TAG k=v …"
# markers (default gw-edge): input, level, edge_ns (kernel stamp), read_ns, lat_us.
hil_edge_marks() {
  grep -a 'edge edge.mono_ns=' "$1" | tr -d '\r' | awk -v tag="${2:-gw-edge}" '{
    e = ""; r = ""; l = ""; n = ""; v = ""
    for (i = 1; i <= NF; i++) {
      split($i, kv, "=")
      if (kv[1] == "edge.mono_ns") e = kv[2]
      else if (kv[1] == "read.mono_ns") r = kv[2]
      else if (kv[1] == "read.latency_us") l = kv[2]
      else if (kv[1] == "input.name") n = kv[2]
      else if (kv[1] == "level") v = kv[2]
    }
    print "@@HIL " tag " input=" n " level=" v " edge_ns=" e " read_ns=" r " lat_us=" l
  }'
}

# hil_gw_start_stamped CONFIG LOG [TIMEOUT_MS]: like hil_gw_start, but the gateway's
# stderr goes through a fifo to `tee LOG | stampin`: LOG is written live, and each line
# is also stamped with CLOCK_MONOTONIC when it left the pipe (the log lines carry no
# time). LOG.stamped ("stampin mono_ns=N <line>") is written once the gateway ended:
# after hil_stop, `hil_gw_stamped_wait`. Sets HIL_GW_PID and HIL_GW_STAMP_PID.
hil_gw_start_stamped() {
  rm -f /tmp/hil-gw.fifo
  mkfifo /tmp/hil-gw.fifo || hil_fail "mkfifo /tmp/hil-gw.fifo failed"
  tee "$2" < /tmp/hil-gw.fifo | stampin > "$2.stamped" &
  HIL_GW_STAMP_PID=$!
  panic-gateway run --config "$1" --log-level debug > "$2.out" 2> /tmp/hil-gw.fifo &
  HIL_GW_PID=$!
  if ! hil_wait_file_line "$2" 'running' "${3:-30000}" "$HIL_GW_PID"; then
    hil_tail_marks "$2" gateway-log 20
    hil_fail "panic-gateway did not say 'running' within ${3:-30000} ms (alive: $(kill -0 $HIL_GW_PID 2>/dev/null && echo yes || echo no))"
  fi
}

# hil_gw_stamped_wait [TIMEOUT_MS]: waits (default 5 s) for stampin to write LOG.stamped
# (it prints at end of input, once the gateway has exited).
hil_gw_stamped_wait() {
  local i=0 n=$(( ${1:-5000} / 20 ))
  while kill -0 "$HIL_GW_STAMP_PID" 2>/dev/null && [ "$i" -lt "$n" ]; do usleep 20000; i=$((i + 1)); done
  kill -0 "$HIL_GW_STAMP_PID" 2>/dev/null && { hil_mark stampin-stuck after_ms="${1:-5000}"; return 1; }
  return 0
}

# hil_wait_lines FILE REGEX N TIMEOUT_MS [PID]: waits until FILE has at least N lines
# matching REGEX (grep -E); fails early if PID (given) exits. Returns 1 on timeout.
hil_wait_lines() {
  local deadline=$(( $(monotime) + $4 * 1000000 ))
  while :; do
    [ "$(grep -cE "$2" "$1" 2>/dev/null)" -ge "$3" ] 2>/dev/null && return 0
    if [ -n "${5:-}" ] && ! kill -0 "$5" 2>/dev/null; then
      [ "$(grep -cE "$2" "$1" 2>/dev/null)" -ge "$3" ] 2>/dev/null && return 0
      return 1
    fi
    [ "$(monotime)" -lt "$deadline" ] || return 1
    usleep 5000
  done
}

# hil_stamped_marks LOG.stamped REGEX [TAG]: the stamped gateway log lines matching REGEX
# as "@@HIL TAG mono_ns=N prio=P msg=words_joined_by_ key=value …" markers (default gw-log).
hil_stamped_marks() {
  grep -aE "$2" "$1" | tr -d '\r' | awk -v tag="${3:-gw-log}" '{
    t = $2; sub(/^mono_ns=/, "", t)
    p = $3; pr = ""
    if (match(p, /^<[0-9]>/)) { pr = substr(p, 2, 1); p = substr(p, 4) }
    msg = p; i = 4
    if (index(p, "=")) { msg = ""; i = 3; $3 = p }
    for (; i <= NF && !index($i, "="); i++) msg = msg (msg == "" ? "" : "_") $i
    rest = ""
    for (; i <= NF; i++) rest = rest " " $i
    # quoted values (key="a b") as one word: spaces inside quotes become _, quotes go
    out = ""; q = 0
    for (k = 1; k <= length(rest); k++) {
      c = substr(rest, k, 1)
      if (c == "\"") { q = !q; continue }
      out = out ((q && c == " ") ? "_" : c)
    }
    print "@@HIL " tag " mono_ns=" t " prio=" pr " msg=" msg out
  }'
}
