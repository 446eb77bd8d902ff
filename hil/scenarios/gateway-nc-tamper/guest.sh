# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
. /hil/gateway.sh
hil_gpiosim_chip hil 8 hil-loops
PULL0=$(hil_pull_file 0)
PULL1=$(hil_pull_file 1)
mkdir -p /state
PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
hil_receiver_start /state/receiver.db "$PUB" /tmp/receiver.log
hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" "
[[inputs]]
name = \"vault-loop\"
kind = \"panic\"
zone = 2
contact = \"normally-closed\"
tamper_after_ms = 1000
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 0, bias = \"pull-up\", active_low = false }

[[inputs]]
name = \"case-switch\"
kind = \"tamper\"
zone = 3
contact = \"normally-closed\"
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 1, bias = \"pull-up\", active_low = false }"
hil_gw_start /tmp/gateway.toml /tmp/gateway.log
hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request line 0 within 15 s"
hil_wait_requested 1 panic-gateway 15000 || hil_fail "panic-gateway did not request line 1 within 15 s"
v0=$(cat "$(hil_value_file 0)"); v1=$(cat "$(hil_value_file 1)")
hil_mark at-rest line0="$v0" line1="$v1"
[ "$v0" = 1 ] && [ "$v1" = 1 ] || hil_fail "closed loops should read high at rest (bias pull-up): line0=$v0 line1=$v1"
usleep 500000
[ "$(hil_sql /state/receiver.db 'SELECT count(*) FROM alerts')" = 0 ] || hil_fail "alerts before any loop opened: $(hil_dump_rx_alerts /state/receiver.db | tr '\n' ' ')"

# Open both loops (pull-down: line low = loop open), leave them open 1.6 s.
flip "$PULL0" down > /tmp/open0.out 2>&1 || hil_fail "flip: $(cat /tmp/open0.out)"
flip "$PULL1" down > /tmp/open1.out 2>&1 || hil_fail "flip: $(cat /tmp/open1.out)"
n=$(hil_wait_count /state/receiver.db "SELECT count(*) FROM alerts WHERE kind = 'tamper'" 2 10000) ||
  { hil_tail_marks /tmp/gateway.log gateway-log 30; hil_fail "$n tamper alert(s) at the receiver 10 s after opening, expected 2"; }
t=$(monotime); left=$(( 1600 - ($(monotime) - $(sed -n 's/.* t_ns=\([0-9]*\) .*/\1/p' /tmp/open0.out)) / 1000000 ))
[ "$left" -gt 0 ] && usleep $(( left * 1000 ))
flip "$PULL0" up > /tmp/close0.out 2>&1 || hil_fail "flip: $(cat /tmp/close0.out)"
flip "$PULL1" up > /tmp/close1.out 2>&1 || hil_fail "flip: $(cat /tmp/close1.out)"
n=$(hil_wait_count /state/receiver.db "SELECT count(*) FROM alerts" 6 15000) ||
  { hil_tail_marks /tmp/gateway.log gateway-log 30; hil_fail "receiver has $n alert(s) 15 s after closing, expected 6"; }
usleep 1500000  # a second open-loop tamper or any other extra would arrive by now
for f in open0 open1 close0 close1; do sed "s/^flip /@@HIL $f-flip /" /tmp/$f.out; done
hil_edge_marks /tmp/gateway.log
hil_dump_rx_alerts /state/receiver.db
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
