# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
. /hil/gateway.sh
hil_gpiosim_chip hil 8 hil-buttons
PULL=$(hil_pull_file 0)
LAMP=$(hil_value_file 1)
[ -w "$PULL" ] || hil_fail "no pull file $PULL"
[ -r "$LAMP" ] || hil_fail "no value file $LAMP"
mkdir -p /state
PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
cat > /tmp/receiver.toml <<TOML
listen = "127.0.0.1:$HIL_RX_PORT"
database = "/state/receiver.db"

[console]
bcrypt_cost = 4

[[gateways]]
id = "$HIL_GW_ID"
public_keys = ["$PUB"]
TOML
echo "the rig's operator password" | panic-receiver operators add hil --password-stdin --config /tmp/receiver.toml > /tmp/op.out 2>&1 ||
  hil_fail "operators add: $(tr '\n' ' ' < /tmp/op.out)"
panic-receiver serve --config /tmp/receiver.toml > /tmp/receiver.log.out 2> /tmp/receiver.log &
HIL_RX_PID=$!
hil_wait_file_line /tmp/receiver.log.out '^listening ' 30000 "$HIL_RX_PID" ||
  { hil_tail_marks /tmp/receiver.log receiver-log; hil_fail "panic-receiver did not say 'listening' within 30 s"; }
hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" "
[[inputs]]
name = \"lobby\"
kind = \"panic\"
zone = 1
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 0, bias = \"pull-down\", active_low = false }
lamp = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 1 }"
hil_gw_start /tmp/gateway.toml /tmp/gateway.log
hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request input line 0 within 15 s"
hil_wait_requested 1 panic-gateway 5000 || { hil_tail_marks /tmp/gateway.log gateway-log 20; hil_fail "panic-gateway did not request lamp line 1 as an output"; }
[ "$(cat "$LAMP")" = 0 ] || hil_fail "the lamp is not off at start: $(cat "$LAMP")"
hil_mark started chip="$HIL_CHIP"

# lamp_stays LEVEL HOLD_MS TIMEOUT_MS: prints the monotime at which the lamp read
# LEVEL and went on reading it for HOLD_MS; returns 1 after TIMEOUT_MS.
lamp_stays() {
  local deadline=$(( $(monotime) + $3 * 1000000 )) since=0 now
  while :; do
    now=$(monotime)
    [ "$now" -lt "$deadline" ] || return 1
    if [ "$(cat "$LAMP")" = "$1" ]; then
      [ "$since" -eq 0 ] && since=$now
      [ $(( now - since )) -ge $(( $2 * 1000000 )) ] && { echo "$since"; return 0; }
    else
      since=0
    fi
    usleep 5000
  done
}

for k in 1 2 3; do
  echo pull-up > "$PULL"; usleep 80000; echo pull-down > "$PULL"
  n=$(hil_wait_count /state/receiver.db "SELECT count(*) FROM incidents WHERE kind = 'panic' AND state = 'new'" 1 15000) ||
    { hil_tail_marks /tmp/gateway.log gateway-log 20; hil_fail "press $k: no open incident 15 s after it"; }
  id=$(hil_sql /state/receiver.db "SELECT max(id) FROM incidents WHERE kind = 'panic' AND state = 'new'")
  ones=0; zeros=0; i=0
  while [ $i -lt 40 ]; do
    if [ "$(cat "$LAMP")" = 1 ]; then ones=$((ones + 1)); else zeros=$((zeros + 1)); fi
    usleep 50000; i=$((i + 1))
  done
  t_cli=$(monotime)
  panic-receiver incidents acknowledge "$id" --as hil --database /state/receiver.db > /tmp/ack.out 2>&1 ||
    hil_fail "acknowledge: $(tr '\n' ' ' < /tmp/ack.out)"
  # Committed by the time the command returns: the lamp is timed from there
  # (the command's own start-up in this emulated guest is reported apart).
  t_ack=$(monotime)
  t_steady=$(lamp_stays 1 1100 6000) || hil_fail "press $k: the lamp was not steady within 6 s of the acknowledgement"
  panic-receiver incidents resolve "$id" --as hil --disposition test --note "rig cycle $k" --database /state/receiver.db > /tmp/res.out 2>&1 ||
    hil_fail "resolve: $(tr '\n' ' ' < /tmp/res.out)"
  t_res=$(monotime)
  t_off=$(lamp_stays 0 300 6000) || hil_fail "press $k: the lamp was not off within 6 s of the resolution"
  hil_mark lamp-cycle cycle=$k incident="$id" blink_on=$ones blink_off=$zeros \
    ack_to_steady_ms=$(( (t_steady - t_ack) / 1000000 )) resolve_to_off_ms=$(( (t_off - t_res) / 1000000 )) \
    ack_command_ms=$(( (t_ack - t_cli) / 1000000 ))
done
audited=$(hil_sql /state/receiver.db "SELECT count(*) FROM audit WHERE operator = 'hil' AND action IN ('acknowledged', 'resolved')")
hil_mark audit entries="$audited"
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
grep -a '^<[0-3]>' /tmp/gateway.log | head -n 5 | sed 's/^/@@HIL gateway-error /'
