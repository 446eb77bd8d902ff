# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
. /hil/gateway.sh
hil_gpiosim_chip hil 8 hil-held
mkdir -p /state
PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
hil_receiver_start /state/receiver.db "$PUB" /tmp/receiver.log
# The buttons' state before the gateway exists: line 0 pressed, lines 1 and 2 low.
echo pull-up > "$(hil_pull_file 0)"
echo pull-down > "$(hil_pull_file 1)"
echo pull-down > "$(hil_pull_file 2)"
hil_mark before-start line0="$(cat "$(hil_value_file 0)")" line1="$(cat "$(hil_value_file 1)")" line2="$(cat "$(hil_value_file 2)")"
[ "$(cat "$(hil_value_file 0)")" = 1 ] || hil_fail "line 0 does not read high after pull-up"
hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" "
[[inputs]]
name = \"held\"
kind = \"panic\"
zone = 1
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 0, bias = \"as-is\", active_low = false }

[[inputs]]
name = \"idle\"
kind = \"panic\"
zone = 2
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 1, bias = \"as-is\", active_low = false }

[[inputs]]
name = \"open-loop\"
kind = \"panic\"
zone = 3
contact = \"normally-closed\"
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 2, bias = \"as-is\", active_low = false }"
rt0=$(monotime realtime); m0=$(monotime)
hil_gw_start /tmp/gateway.toml /tmp/gateway.log
rt1=$(monotime realtime); m1=$(monotime)
hil_mark gateway-start rt_before_ns="$rt0" rt_running_ns="$rt1" mono_before_ns="$m0" mono_running_ns="$m1"
hil_mark after-request line0="$(cat "$(hil_value_file 0)")" line1="$(cat "$(hil_value_file 1)")" line2="$(cat "$(hil_value_file 2)")"
n=$(hil_wait_count /state/receiver.db "SELECT count(*) FROM alerts" 2 15000) ||
  { hil_tail_marks /tmp/gateway.log gateway-log 30; hil_fail "receiver has $n alert(s) 15 s after the gateway started, expected 2 (held, open-loop)"; }
m2=$(monotime)
hil_mark start-alerts n="$n" running_to_second_alert_ms=$(( (m2 - m1) / 1000000 ))
usleep 1000000
# Release line 0, close line 2.
flip "$(hil_pull_file 0)" down > /tmp/release0.out 2>&1 || hil_fail "flip: $(cat /tmp/release0.out)"
flip "$(hil_pull_file 2)" up > /tmp/close2.out 2>&1 || hil_fail "flip: $(cat /tmp/close2.out)"
n=$(hil_wait_count /state/receiver.db "SELECT count(*) FROM alerts" 4 15000) ||
  { hil_tail_marks /tmp/gateway.log gateway-log 30; hil_fail "receiver has $n alert(s) 15 s after release, expected 4"; }
usleep 1500000
for f in release0 close2; do sed "s/^flip /@@HIL $f-flip /" /tmp/$f.out; done
hil_edge_marks /tmp/gateway.log
hil_dump_rx_alerts /state/receiver.db
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
