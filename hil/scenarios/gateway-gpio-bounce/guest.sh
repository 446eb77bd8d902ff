# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
. /hil/gateway.sh
hil_gpiosim_chip hil 8 hil-buttons
PULL=$(hil_pull_file 0)
[ -w "$PULL" ] || hil_fail "no pull file $PULL"
mkdir -p /state
t0=$(monotime)
PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
hil_receiver_start /state/receiver.db "$PUB" /tmp/receiver.log
t1=$(monotime)
hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" "
[[inputs]]
name = \"lobby\"
kind = \"panic\"
zone = 1
contact = \"normally-open\"
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 0, bias = \"pull-down\", active_low = false }"
hil_gw_start /tmp/gateway.toml /tmp/gateway.log
hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request line 0 within 15 s"
t2=$(monotime)
hil_mark started chip="$HIL_CHIP" keygen_receiver_ms=$(( (t1 - t0) / 1000000 )) gateway_ms=$(( (t2 - t1) / 1000000 ))
usleep 500000   # let the first heartbeat go: the loop is idle when the press comes

# Press: 5 writes within ~6 ms, ending high (pressed); hold 300 ms; release: 3 writes ending low.
PRESS="up 1000:down 1500:up 1000:down 2000:up"
RELEASE="down 1000:up 1500:down"
hil_mark train press="$(echo $PRESS | tr ' ' ',')" release="$(echo $RELEASE | tr ' ' ',')" hold_ms=300
# shellcheck disable=SC2086
flip "$PULL" $PRESS > /tmp/press.out 2>&1 || hil_fail "flip: $(tr '\n' ' ' < /tmp/press.out)"
usleep 300000
# shellcheck disable=SC2086
flip "$PULL" $RELEASE > /tmp/release.out 2>&1 || hil_fail "flip: $(tr '\n' ' ' < /tmp/release.out)"
t3=$(monotime)

n=$(hil_wait_count /state/receiver.db "SELECT count(*) FROM alerts" 2 20000) ||
  { hil_tail_marks /tmp/gateway.log gateway-log 30; hil_fail "receiver has $n alert(s) 20 s after the release, expected 2"; }
t4=$(monotime)
usleep 1500000  # anything more (a bounce taken for a second press) would arrive by now
hil_mark delivered alerts="$n" release_to_second_alert_ms=$(( (t4 - t3) / 1000000 ))
sed 's/^flip /@@HIL press-flip /' /tmp/press.out
sed 's/^flip /@@HIL release-flip /' /tmp/release.out
hil_edge_marks /tmp/gateway.log
hil_dump_rx_alerts /state/receiver.db
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
grep -a '^<[0-3]>' /tmp/gateway.log | head -n 5 | sed 's/^/@@HIL gateway-error /'
