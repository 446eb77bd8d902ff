# Runs in the guest as /scenario.sh (busybox sh). The host driver (./host) answers each
# "host-do action=… n=…" marker: add (pty + pymodbus server + QMP device_add), flip1/flip0
# (discrete input 4 of slave 1), stop/start (the pymodbus server).
. /hil/lib.sh
. /hil/gateway.sh
for m in usbcore xhci_hcd xhci_pci usbserial ftdi_sio; do
  [ -d "/sys/module/$m" ] || hil_fail "module $m not loaded"
done
[ -e /dev/ttyUSB0 ] && hil_fail "/dev/ttyUSB0 exists before the hot-add"
[ -e /run/udev/control ] && hil_fail "/run/udev/control exists: this scenario is about a system without udevd"
DB=/state/receiver.db
LOG=/tmp/gateway.log
POLL_MS=20
mkdir -p /state
set -- $(hil_rt_offset)
hil_mark clock rt_minus_mono_ns="$1" span_ns="$2"

wait_alerts() {
  local n
  n=$(hil_wait_count "$DB" "SELECT count(*) FROM alerts" "$1" "$2") && return 0
  hil_tail_marks "$LOG" gateway-log 25
  hil_dump_rx_alerts "$DB" rx-alert-so-far
  hil_fail "receiver has $n alert(s), expected $1 ($3) within $2 ms"
}
host_do() { hil_mark host-do action="$1" n="$2" mono_ns="$(monotime)"; }
# step ACTION N ALERTS TIMEOUT_MS WHAT: host acts; the receiver must then hold ALERTS alerts.
step() {
  host_do "$1" "$2"
  wait_alerts "$3" "$4" "$5"
  hil_mark done action="$1" n="$2" mono_ns="$(monotime)"
}

host_do add 1
PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
hil_receiver_start "$DB" "$PUB" /tmp/receiver.log
t=$(waitpath /dev/ttyUSB0 20000) || hil_fail "no /dev/ttyUSB0 within 20 s of host-do add"
hil_mark node-up n=1 mono_ns="$t"

hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" "
[[serial_devices]]
name = \"io\"
protocol = \"modbus\"
vendor_id = \"0403\"
product_id = \"6001\"
baud = 19200
poll_interval_ms = $POLL_MS
response_timeout_ms = 200
fail_after = 3

[[inputs]]
name = \"io-4\"
kind = \"panic\"
zone = 5
source = { type = \"serial\", device = \"io\", slave = 1, input = 4 }"
t_start=$(monotime)
hil_gw_start_stamped /tmp/gateway.toml "$LOG"
hil_mark gw-running start_mono_ns="$t_start" running_mono_ns="$(monotime)" poll_ms="$POLL_MS"
hil_wait_lines "$LOG" 'serial device open' 1 3000 "$HIL_GW_PID" || {
  hil_tail_marks "$LOG" gateway-log 25
  hil_fail "the gateway did not open /dev/ttyUSB0 (present at start) within 3 s of running"; }
hil_mark gw-open n=1 mono_ns="$(monotime)"
usleep 700000     # polling under way; input 4 is 0 (no alert)

step flip1 1 1 10000 "panic: input 4 went to 1"
step flip0 1 2 10000 "restore(panic): input 4 back to 0"
step stop 1 3 8000 "trouble: slave 1 stopped answering"
step start 1 4 8000 "restore(trouble): slave 1 answers again"
step flip1 2 5 10000 "panic after the restart"
step flip0 2 6 10000 "restore(panic) after the restart"

usleep 1000000   # anything more would be here by now
hil_dump_rx_alerts "$DB"
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_gw_stamped_wait 5000
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
hil_stamped_marks "$LOG.stamped" 'serial device|udevd|serial input|edge edge|>running '
hil_mark gw-log-lines n="$(wc -l < "$LOG")"
grep -a '^<[0-3]>' "$LOG" | head -n 8 | sed 's/^/@@HIL gateway-error /'
