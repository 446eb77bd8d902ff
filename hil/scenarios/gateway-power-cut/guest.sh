# Runs in the guest as /scenario.sh (busybox sh), once per boot; the boot number is
# kept on the disk (synced before the gateway starts: it is the rig's, not under test).
. /hil/lib.sh
. /hil/gateway.sh
CYCLES=3
PRESSES=3
[ -b /dev/vda ] || hil_fail "no /dev/vda (virtio disk)"
mkdir -p /state
mount -t ext4 /dev/vda /state 2>/tmp/mount.err || hil_fail "mount /dev/vda: $(cat /tmp/mount.err)"
boot=$(( $(cat /state/hil-boot 2>/dev/null || echo 0) + 1 ))
echo "$boot" > /state/hil-boot
if [ "$boot" = 1 ]; then
  hil_gw_keygen /state/gateway.key > /state/gateway.pub
  [ -s /state/gateway.pub ] || hil_fail "panic-gateway keygen printed no public key"
fi
sync
hil_mark power-boot boot="$boot" cycles="$CYCLES" presses="$PRESSES" sync_before_cut="$(cat /etc/hil/sync-before-cut 2>/dev/null)" mono_ns="$(monotime)"
PUB=$(cat /state/gateway.pub)
hil_gpiosim_chip hil 8 hil-pc
PULL=$(hil_pull_file 0)
OUTBOX=/state/outbox.db
RXDB=/state/receiver.db

# control_commit DB SYNC: commits the row (boot) with PRAGMA synchronous=SYNC, WAL mode,
# and keeps the connection open (closing would checkpoint, which syncs).
control_commit() {
  (printf "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=%s;\nCREATE TABLE IF NOT EXISTS t(boot INTEGER);\nINSERT INTO t VALUES(%s);\nSELECT 'committed';\n" "$2" "$boot"
   sleep 100) | sqlite3 -batch "$1" > "/tmp/control-$2.out" 2>&1 &
  hil_wait_file_line "/tmp/control-$2.out" '^committed' 10000 || hil_fail "control sqlite3 ($2) did not commit: $(tr '\n' ' ' < /tmp/control-$2.out)"
}
# control_kept DB: 1 if the previous boot's control row is there, else 0.
control_kept() { hil_sql "$1" "SELECT count(*) FROM t WHERE boot = $((boot - 1))" 2>/dev/null || echo 0; }

# What survived on the disk, before anything runs.
if [ "$boot" -gt 1 ]; then
  hil_mark control boot="$boot" full_kept="$(control_kept /state/control-full.db)" normal_kept="$(control_kept /state/control-normal.db)"
fi
hil_mark state-files boot="$boot" at=boot files="$(ls -l /state | awk 'NR>1{printf "%s:%s,", $NF, $5}')"
if [ -f "$OUTBOX" ]; then
  hil_sql "$OUTBOX" "SELECT '@@HIL outbox-at-boot boot=$boot seq=' || a.sequence || ' id=' || a.id || ' kind=' || a.kind
      || ' state=' || coalesce(d.state, '-') FROM alerts a LEFT JOIN deliveries d ON d.sequence = a.sequence ORDER BY a.sequence" \
    2>/tmp/sql.err || hil_mark outbox-unreadable boot="$boot" err="$(tr ' \n' '_ ' < /tmp/sql.err)"
fi

if [ "$boot" -gt 1 ]; then hil_receiver_start "$RXDB" "$PUB" /tmp/receiver.log; fi
hil_gw_config /tmp/gateway.toml /state "$HIL_RX_URL" "
[[inputs]]
name = \"teller\"
kind = \"panic\"
zone = 1
debounce = { mode = \"immediate\", window_ms = 20 }
source = { type = \"gpio\", chip = \"$HIL_CHIP\", line = 0, bias = \"pull-down\", active_low = false }"
hil_gw_start /tmp/gateway.toml /tmp/gateway.log
grep -a -E 'undelivered alerts found|corrupt|salvag' /tmp/gateway.log | tr -d '\r' | sed "s/^/@@HIL gateway-start-log boot=$boot /"

if [ "$boot" -gt 1 ]; then
  # Deliver everything the previous boots accepted.
  deadline=$(( $(monotime) + 60000000000 ))
  while :; do
    p=$(hil_sql "$OUTBOX" "SELECT count(*) FROM deliveries WHERE state = 'pending'" 2>/dev/null)
    [ "$p" = 0 ] && break
    [ "$(monotime)" -lt "$deadline" ] || { hil_tail_marks /tmp/gateway.log gateway-log 30; hil_fail "boot $boot: $p alert(s) still pending 60 s after start"; }
    usleep 50000
  done
  hil_mark delivered boot="$boot" ms_after_start="$(( ($(monotime) - deadline + 60000000000) / 1000000 ))"
  hil_dump_rx_alerts "$RXDB" "rx-alert boot=$boot"
  hil_sql "$RXDB" "SELECT '@@HIL rx-event boot=$boot type=' || type || ' text=' || replace(text, ' ', '_') FROM events WHERE type IN ('conflict', 'gap')"
  if [ "$boot" -gt "$CYCLES" ]; then
    hil_stop "$HIL_GW_PID"; hil_mark gateway-exit rc=$?
    hil_stop "$HIL_RX_PID"; hil_mark receiver-exit rc=$?
    hil_mark power-cut-done boots="$boot"
    exit 0
  fi
  hil_stop "$HIL_RX_PID"; hil_mark receiver-stopped boot="$boot" rc=$?
fi

# Presses while the receiver is unreachable.
hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request line 0 within 15 s"
s0=$(hil_sql "$OUTBOX" "SELECT coalesce(max(sequence), 0) FROM alerts")
i=0
while [ "$i" -lt "$PRESSES" ]; do
  flip "$PULL" up >/dev/null 2>&1 || hil_fail "flip up failed"
  usleep 150000
  flip "$PULL" down >/dev/null 2>&1 || hil_fail "flip down failed"
  usleep 150000
  i=$((i + 1))
done
want=$((2 * PRESSES))
n=$(hil_wait_count "$OUTBOX" "SELECT count(*) FROM alerts WHERE sequence > $s0" "$want" 15000) ||
  { hil_tail_marks /tmp/gateway.log gateway-log 30; hil_fail "boot $boot: the outbox holds $n of $want new alerts 15 s after the presses"; }
# Accepted = committed in the outbox. List them, then the power goes.
hil_sql "$OUTBOX" "SELECT '@@HIL accepted cycle=$boot seq=' || sequence || ' id=' || id || ' kind=' || kind FROM alerts WHERE sequence > $s0 ORDER BY sequence"
# Controls for the rig itself: one row committed by sqlite3 in WAL mode with
# synchronous=FULL (must survive the cut: else the rig, not the gateway, loses synced
# data) and one with synchronous=NORMAL (may be lost: shows the cut is real).
control_commit /state/control-full.db FULL
control_commit /state/control-normal.db NORMAL
hil_mark state-files boot="$boot" at=cut files="$(ls -l /state | awk 'NR>1{printf "%s:%s,", $NF, $5}')"
if [ "$(cat /etc/hil/sync-before-cut 2>/dev/null)" = 1 ]; then sync; hil_mark synced-before-cut boot="$boot"; fi
hil_mark ready-for-cut cycle="$boot" accepted="$n" mono_ns="$(monotime)"
sleep 30
hil_fail "boot $boot: no power cut within 30 s of ready-for-cut"
