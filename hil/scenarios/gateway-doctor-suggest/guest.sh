# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
. /hil/gateway.sh
# A chip of 4 lines, three of them named as a board's header names them.
d=/sys/kernel/config/gpio-sim/doctor
[ -d /sys/kernel/config/gpio-sim ] || hil_fail "no /sys/kernel/config/gpio-sim (gpio-sim-oot not loaded?)"
mkdir "$d" "$d/bank0" || hil_fail "mkdir $d failed"
echo 4 > "$d/bank0/num_lines"
echo hil-doctor > "$d/bank0/label"
for i in 0 1 2; do mkdir "$d/bank0/line$i" && echo "btn-$i" > "$d/bank0/line$i/name" || hil_fail "line $i name refused"; done
echo 1 > "$d/live" || hil_fail "gpio-sim: live=1 refused"
HIL_CHIP=$(cat "$d/bank0/chip_name"); HIL_SIMDEV=$(cat "$d/dev_name")
mkdir -p /state
PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
hil_receiver_start /state/receiver.db "$PUB" /tmp/receiver.log

# The installer's configuration uses btn-0 (by name); the rest is suggested.
hil_gw_config /tmp/base.toml /state "$HIL_RX_URL" '
[[inputs]]
name = "desk"
kind = "panic"
zone = 501
source = { type = "gpio", chip = "hil-doctor", line_name = "btn-0", bias = "pull-up", active_low = true }'
panicctl devices --suggest --config /tmp/base.toml > /tmp/suggest.toml 2> /tmp/suggest.err; src=$?
sed 's/^/suggest| /' /tmp/suggest.toml
n_inputs=$(grep -c '^\[\[inputs\]\]' /tmp/suggest.toml)
has() { grep -q "$1" /tmp/suggest.toml && echo 1 || echo 0; }
hil_mark suggest rc=$src inputs=$n_inputs btn0=$(has 'line_name = "btn-0"') btn1=$(has 'line_name = "btn-1"') \
  btn2=$(has 'line_name = "btn-2"') offset3=$(has 'line = 3,') chip_by_label=$(has 'chip = "hil-doctor"')
cat /tmp/base.toml /tmp/suggest.toml > /tmp/gateway.toml
panic-gateway check-config /tmp/gateway.toml > /tmp/check.out 2>&1; crc=$?
sed 's/^/check-config| /' /tmp/check.out
hil_mark check-config rc=$crc

hil_gw_start /tmp/gateway.toml /tmp/gateway.log
state=$(clocksync) || hil_fail "clocksync: adjtimex said $state"
hil_mark clock state="$state"
# Every input at rest (pull-up, active low); the receiver up; rules in place.
panicctl doctor --config /tmp/gateway.toml --daemon-user root --timeout 15 > /tmp/doctor.out 2>&1; drc=$?
sed 's/^/doctor| /' /tmp/doctor.out
hil_mark doctor rc=$drc fails=$(grep -c '^FAIL' /tmp/doctor.out) oks=$(grep -c '^ok' /tmp/doctor.out) \
  inputs_at_rest=$(grep -c '^ok  *input .*present and at rest' /tmp/doctor.out) \
  acknowledged=$(grep -c '^ok  *destination central .*acknowledged' /tmp/doctor.out)

# One fault: btn-1 held pressed (pulled low).
echo pull-down > "/sys/devices/platform/$HIL_SIMDEV/$HIL_CHIP/sim_gpio1/pull"
usleep 300000
panicctl doctor --config /tmp/gateway.toml --daemon-user root --timeout 15 > /tmp/doctor2.out 2>&1; drc2=$?
sed 's/^/doctor-fault| /' /tmp/doctor2.out
hil_mark doctor-fault rc=$drc2 fails=$(grep -c '^FAIL' /tmp/doctor2.out) \
  names_btn1=$(grep -c '^FAIL  input btn-1  *reads pressed' /tmp/doctor2.out)
echo pull-up > "/sys/devices/platform/$HIL_SIMDEV/$HIL_CHIP/sim_gpio1/pull"
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
