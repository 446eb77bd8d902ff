# Runs in the guest as /scenario.sh (busybox sh). The host driver (./host) answers each
# "host-do action=… n=…" marker: add (QMP device_add), press/release (a line into the
# chardev), del (QMP device_del).
. /hil/lib.sh
. /hil/gateway.sh
for m in usbcore xhci_hcd xhci_pci usbserial ftdi_sio; do
  [ -d "/sys/module/$m" ] || hil_fail "module $m not loaded"
done
[ -e /dev/ttyUSB0 ] && hil_fail "/dev/ttyUSB0 exists before the hot-add"
[ -e /run/udev/control ] && hil_fail "/run/udev/control exists: this scenario is about a system without udevd"
DB=/state/receiver.db
LOG=/tmp/gateway.log
mkdir -p /state
set -- $(hil_rt_offset)
hil_mark clock rt_minus_mono_ns="$1" span_ns="$2"

PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
hil_receiver_start "$DB" "$PUB" /tmp/receiver.log
hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" '
[[serial_devices]]
name = "box"
protocol = "line"
vendor_id = "0403"
product_id = "6001"
baud = 115200
absent_grace_s = 2

[[inputs]]
name = "box-1"
kind = "panic"
zone = 4
source = { type = "serial", device = "box", button = "1" }'
t_start=$(monotime)
hil_gw_start_stamped /tmp/gateway.toml "$LOG"
hil_mark gw-running start_mono_ns="$t_start" running_mono_ns="$(monotime)"

# wait_alerts N TIMEOUT_MS WHAT: the receiver holds at least N alerts, else fail.
wait_alerts() {
  local n
  n=$(hil_wait_count "$DB" "SELECT count(*) FROM alerts" "$1" "$2") && return 0
  hil_tail_marks "$LOG" gateway-log 25
  hil_dump_rx_alerts "$DB" rx-alert-so-far
  hil_fail "receiver has $n alert(s), expected $1 ($3) within $2 ms"
}
# host_do ACTION N: asks the host driver to act.
host_do() { hil_mark host-do action="$1" n="$2" mono_ns="$(monotime)"; }

# Absent at start: trouble once the 2 s grace has passed.
wait_alerts 1 8000 "trouble: device absent past absent_grace_s = 2"
hil_mark absent-trouble-seen mono_ns="$(monotime)"

# add N: hot-add; the node appears; the gateway must open it within 1 s (3 s bound here,
# the check holds it to 1 s from the stamps). Returns 1 (after a gw-open-missing marker)
# if the gateway did not open it.
add() {
  host_do add "$1"
  t=$(waitpath /dev/ttyUSB0 20000) || hil_fail "no /dev/ttyUSB0 within 20 s of host-do add n=$1"
  hil_mark node-up n="$1" mono_ns="$t"
  if ! hil_wait_lines "$LOG" 'serial device open' "$1" 3000 "$HIL_GW_PID"; then
    hil_mark gw-open-missing n="$1" waited_ms=3000 gateway_alive="$(kill -0 "$HIL_GW_PID" 2>/dev/null && echo yes || echo no)"
    hil_tail_marks "$LOG" gateway-log 12
    return 1
  fi
  hil_mark gw-open n="$1" mono_ns="$(monotime)"
}
# cpu TAG: the gateway's CPU use (utime+stime, 10 ms ticks) over 500 ms of nothing happening.
cpu() {
  local a b t0 t1
  a=$(awk '{print $14 + $15}' "/proc/$HIL_GW_PID/stat"); t0=$(monotime)
  usleep 500000
  b=$(awk '{print $14 + $15}' "/proc/$HIL_GW_PID/stat"); t1=$(monotime)
  hil_mark gw-cpu when="$1" ticks=$((b - a)) window_ms=$(( (t1 - t0) / 1000000 )) pct=$(( (b - a) * 10000000 * 100 / (t1 - t0) ))
}
# press_release N FIRST: presses (alert FIRST), releases (alert FIRST+1).
press_release() {
  host_do press "$1"
  wait_alerts "$2" 10000 "panic for press $1"
  hil_mark done action=press n="$1" mono_ns="$(monotime)"
  host_do release "$1"
  wait_alerts $(($2 + 1)) 10000 "restore(panic) for release $1"
  hil_mark done action=release n="$1" mono_ns="$(monotime)"
}

add 1 || hil_fail "the gateway did not open /dev/ttyUSB0 within 3 s of it appearing"
wait_alerts 2 5000 "restore(trouble) once the device was opened"
cpu device-open
press_release 1 3

hil_mark ready-for-del n=1 rt_ns="$(monotime realtime)"
host_do del 1
t=$(waitpath -g /dev/ttyUSB0 20000) || hil_fail "/dev/ttyUSB0 still there 20 s after host-do del"
hil_mark node-gone n=1 mono_ns="$t"
wait_alerts 5 5000 "trouble after the device was removed"
hil_mark done action=del n=1 mono_ns="$(monotime)"
cpu device-absent

# Back: reopened -> restore(trouble); presses work again. If the gateway does not reopen
# it, the receiver's alerts so far go to the check, which names what is missing.
if add 2; then
  wait_alerts 6 5000 "restore(trouble) once the device was back and reopened"
  press_release 2 7
fi

usleep 1000000   # anything more (a duplicate, a late trouble) would be here by now
hil_dump_rx_alerts "$DB"
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_gw_stamped_wait 5000
hil_stamped_marks "$LOG.stamped" 'serial device|udevd|uevent|hotplug|serial input|edge edge|>running '
hil_mark gw-log-lines n="$(wc -l < "$LOG")"
grep -a '^<[0-3]>' "$LOG" | head -n 8 | sed 's/^/@@HIL gateway-error /'

# Cold start: a second gateway starts while the box is plugged in (found by enumeration,
# not by an event); it must open it within 1 s and read a press.
if [ -e /dev/ttyUSB0 ]; then
  base=$(hil_sql "$DB" "SELECT count(*) FROM alerts")
  LOG=/tmp/gateway2.log
  hil_gw_start_stamped /tmp/gateway.toml "$LOG"
  hil_mark gw2-running mono_ns="$(monotime)" alerts_before="$base"
  if hil_wait_lines "$LOG" 'serial device open' 1 3000 "$HIL_GW_PID"; then
    hil_mark gw-open n=3 mono_ns="$(monotime)"
    usleep 300000
    host_do press 3
    if n=$(hil_wait_count "$DB" "SELECT count(*) FROM alerts" $((base + 1)) 3000); then
      hil_mark done action=press n=3 mono_ns="$(monotime)"
      host_do release 3
      wait_alerts $((base + 2)) 10000 "restore(panic) for release 3 (cold start)"
      hil_mark done action=release n=3 mono_ns="$(monotime)"
    else
      # Unread? Any uevent makes the loop go round once: a "change" on the tty.
      hil_mark cold-press-missing waited_ms=3000 alerts="$n"
      echo change > /sys/class/tty/ttyUSB0/uevent
      n=$(hil_wait_count "$DB" "SELECT count(*) FROM alerts" $((base + 1)) 3000)
      hil_mark cold-press-after-uevent alerts="$n" expected=$((base + 1))
      hil_mark done action=press n=3 mono_ns="$(monotime)"
    fi
  else
    hil_mark gw-open-missing n=3 waited_ms=3000
    hil_tail_marks "$LOG" gateway-log 12
  fi
  usleep 500000
  hil_dump_rx_alerts "$DB" rx-alert2
  hil_stop "$HIL_GW_PID"; hil_mark gateway2-exit rc=$?
  hil_gw_stamped_wait 5000
  # The technician's path: a configuration without the box; --suggest must
  # offer it by identity, and the suggestion pasted in must pass check-config.
  hil_gw_config /tmp/nobox.toml /state "$HIL_RX_URL" '
[[inputs]]
name = "spare"
kind = "panic"
zone = 9
source = { type = "simulated" }'
  panicctl devices --suggest --config /tmp/nobox.toml > /tmp/suggest.toml 2> /tmp/suggest.err; src=$?
  sed 's/^/suggest| /' /tmp/suggest.toml
  cat /tmp/nobox.toml /tmp/suggest.toml > /tmp/suggested.toml
  panic-gateway check-config /tmp/suggested.toml > /tmp/suggest-check.out 2>&1; crc=$?
  sed 's/^/suggest-check| /' /tmp/suggest-check.out
  hil_mark suggest rc=$src check_rc=$crc serial_devices=$(grep -c '^\[\[serial_devices\]\]' /tmp/suggest.toml) \
    vendor=$(grep -c '^vendor_id = "0403"' /tmp/suggest.toml) product=$(grep -c '^product_id = "6001"' /tmp/suggest.toml)
  hil_stamped_marks "$LOG.stamped" 'serial device|udevd|serial input|edge edge|>running ' gw2-log
else
  hil_mark cold-start-skipped reason=no_ttyUSB0
fi
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
