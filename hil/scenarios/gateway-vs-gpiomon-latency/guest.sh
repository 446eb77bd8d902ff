# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
. /hil/gateway.sh
hil_gpiosim_chip hil 8 hil-latency
TRAIN="up 2000:down 1000:up 3000:down 1500:up 2500:down 2000:up"   # gpiomon-bounce's plan
TRAINS=5
PER=$(( $(echo $TRAIN | wc -w) + 1 ))     # the train, then a clean release
N=$((TRAINS * PER))
hil_mark plan train="$(echo $TRAIN | tr ' ' ',')" trains="$TRAINS" edges="$N"

# run_trains LINE TAG: TRAINS times: the train, 200 ms pressed, release, 200 ms.
run_trains() {
  local pull r=0
  pull=$(hil_pull_file "$1")
  : > "/tmp/flips-$2"
  while [ "$r" -lt "$TRAINS" ]; do
    # shellcheck disable=SC2086
    flip "$pull" $TRAIN >> "/tmp/flips-$2" 2>&1 || hil_fail "flip: $(tail -n 2 /tmp/flips-$2 | tr '\n' ' ')"
    usleep 200000
    flip "$pull" down >> "/tmp/flips-$2" 2>&1 || hil_fail "flip down failed"
    usleep 200000
    r=$((r + 1))
  done
  sed "s/^flip /@@HIL $2-flip /" "/tmp/flips-$2"
}

# wait_gone PID MS: waits for PID to exit (bounded).
wait_gone() {
  local i=0
  while kill -0 "$1" 2>/dev/null && [ "$i" -lt $(( $2 / 10 )) ]; do usleep 10000; i=$((i + 1)); done
  ! kill -0 "$1" 2>/dev/null
}

# 1. Debian's gpiomon (line-buffered) on line 2, its lines stamped as they come out of the pipe.
( gpiomon -b -n "$N" -F 'ev %e %o %s %n' "$HIL_CHIP" 2 2>/tmp/gpiomon.err | stampin "$N" > /tmp/gpiomon.out ) &
gm=$!
hil_wait_requested 2 gpiomon 15000 || hil_fail "gpiomon did not request line 2: $(cat /tmp/gpiomon.err)"
run_trains 2 gm
wait_gone "$gm" 5000 || { kill "$gm"; hil_fail "gpiomon did not end after $N events: $(cat /tmp/gpiomon.err)"; }
sed 's/^stampin /@@HIL gm-line /' /tmp/gpiomon.out

# 2. gpioread (the reference: gpiomon's read path, instrumented) on line 1.
gpioread "$HIL_CHIP" 1 "$N" 30000 > /tmp/gpioread.out 2>&1 &
gr=$!
hil_wait_requested 1 gpioread 15000 || hil_fail "gpioread did not request line 1: $(cat /tmp/gpioread.out)"
run_trains 1 ref
wait_gone "$gr" 5000 || { kill "$gr"; hil_fail "gpioread did not end after $N events"; }
wait "$gr" || hil_fail "gpioread: $(tail -n 3 /tmp/gpioread.out | tr '\n' ' ')"
sed 's/^gpioread/@@HIL ref-event/' /tmp/gpioread.out

# 3. panic-gateway on line 0 (immediate, 20 ms window). No receiver in the guest: its
# work would compete for the one vCPU; the uplink points at a closed port with a
# slow back-off, so delivery attempts stay rare. The gateway still commits every alert.
mkdir -p /state
HIL_GW_HEARTBEAT_S=60 HIL_GW_BACKOFF_MS=2000..10000
hil_gw_config /tmp/gateway.toml /state "http://127.0.0.1:9" "
[[inputs]]
name = \"latency\"
kind = \"panic\"
zone = 1
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 0, bias = \"pull-down\", active_low = false }"
hil_gw_start /tmp/gateway.toml /tmp/gateway.log
hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request line 0 within 15 s"
usleep 500000
run_trains 0 gw
usleep 500000
hil_mark gw-outbox alerts="$(hil_sql /state/outbox.db 'SELECT count(*) FROM alerts')"
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_edge_marks /tmp/gateway.log
