# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
. /hil/gateway.sh
LABEL=hil-removable
SIM=/sys/kernel/config/gpio-sim/hil
hil_gpiosim_chip hil 8 "$LABEL"
mkdir -p /state
PUB=$(hil_gw_keygen /state/gateway.key)
[ -n "$PUB" ] || hil_fail "panic-gateway keygen printed no public key"
hil_receiver_start /state/receiver.db "$PUB" /tmp/receiver.log
hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" "
[[inputs]]
name = \"desk\"
kind = \"panic\"
zone = 1
contact = \"normally-open\"
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$LABEL\", line = 0, bias = \"pull-down\", active_low = false }"
hil_gw_start /tmp/gateway.toml /tmp/gateway.log
hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request line 0 of $HIL_CHIP within 15 s"
hil_mark started chip="$HIL_CHIP" simdev="$HIL_SIMDEV" label="$LABEL"
usleep 500000

# press_release TAG: press (pull up), hold 300 ms, release (pull down).
press_release() {
  local pull; pull=$(hil_pull_file 0)
  flip "$pull" up > /tmp/$1-press.out 2>&1 || hil_fail "flip $pull: $(tr '\n' ' ' < /tmp/$1-press.out)"
  usleep 300000
  flip "$pull" down > /tmp/$1-release.out 2>&1 || hil_fail "flip $pull: $(tr '\n' ' ' < /tmp/$1-release.out)"
}
Q_ALL="SELECT count(*) FROM alerts"
Q_TROUBLE="SELECT count(*) FROM alerts WHERE kind = 'trouble' AND json_extract(CAST(body AS TEXT), '\$.restores') IS NULL"
Q_TROUBLE_RESTORE="SELECT count(*) FROM alerts WHERE json_extract(CAST(body AS TEXT), '\$.restores') = 'trouble'"

# 1. press/release on the chip as it is.
press_release first
n=$(hil_wait_count /state/receiver.db "$Q_ALL" 2 10000); hil_mark first-press alerts="$n"
usleep 500000

# 2. remove the chip.
m0=$(monotime); r0=$(monotime realtime)
echo 0 > "$SIM/live"; rc=$?
m1=$(monotime)
hil_mark live-0 rc=$rc realtime_ns="$r0" write_ms=$(( (m1 - m0) / 1000000 )) dev_gone=$([ -e "/dev/$HIL_CHIP" ] && echo no || echo yes)
n=$(hil_wait_count /state/receiver.db "$Q_TROUBLE" 1 8000); hil_mark after-removal trouble="$n" waited_ms=$(( ($(monotime) - m0) / 1000000 ))

# 3. bring it back (same label; chip name and sim device may be new).
m0=$(monotime); r1=$(monotime realtime)
echo 1 > "$SIM/live"; rc=$?
HIL_CHIP=$(cat "$SIM/bank0/chip_name"); HIL_SIMDEV=$(cat "$SIM/dev_name")
hil_mark live-1 rc=$rc realtime_ns="$r1" chip="$HIL_CHIP" simdev="$HIL_SIMDEV" label="$(cat "$SIM/bank0/label")"
n=$(hil_wait_count /state/receiver.db "$Q_TROUBLE_RESTORE" 1 8000); hil_mark after-return restore_trouble="$n" waited_ms=$(( ($(monotime) - m0) / 1000000 ))
if hil_wait_requested 0 panic-gateway 5000; then
  hil_mark rerequested chip="$HIL_CHIP" after_ms=$(( ($(monotime) - m0) / 1000000 ))
  usleep 300000
  c=$(hil_sql /state/receiver.db "$Q_ALL")
  # 4. press/release on the returned chip.
  press_release second
  n=$(hil_wait_count /state/receiver.db "$Q_ALL" $((c + 2)) 10000); hil_mark second-press alerts="$n"
else
  hil_mark not-rerequested chip="$HIL_CHIP"
fi
usleep 1500000   # anything extra would arrive by now
hil_dump_rx_alerts /state/receiver.db
grep -aiE 'chip|trouble|gpio|removed|not found' /tmp/gateway.log | grep -av 'edge edge.mono_ns=' | tail -n 20 | tr -d '\r' | sed 's/^/@@HIL gw-log /'
hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
