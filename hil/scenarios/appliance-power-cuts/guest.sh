# appliance-power-cuts, in the Debian guest (dash), once per boot.
. /hil/debian.sh
CUTS=$(cat /hil/cuts)
if [ "$HIL_BOOT" = 1 ]; then
  hil_gpio_sim_unit
  dpkg -i /hil/debs/panic-gateway.deb > /tmp/dpkg.out 2>&1 || { hil_tail_marks /tmp/dpkg.out dpkg 10; hil_fail "dpkg -i failed"; }
  panicctl keys generate > /tmp/keys.out 2>&1 || hil_fail "panicctl keys generate failed"
  chown panic-gateway: /var/lib/panic-gateway/gateway.key
  hil_receiver_setup "$(sed -n 's/^public key: *//p' /tmp/keys.out)"
  systemctl stop $RX_UNIT      # down through every cut: the backlog is delivered by the last boot
  hil_gw_toml "$(hil_gpio_input teller hil-a 0 1)"
  systemctl enable --now $GW_UNIT > /tmp/enable.out 2>&1 || { hil_journal_marks $GW_UNIT gateway-journal 30; hil_fail "systemctl enable --now failed"; }
  sync
else
  hil_wait_active $GW_UNIT 90000 || { hil_journal_marks $GW_UNIT gateway-journal 30; hil_fail "boot $HIL_BOOT: panic-gateway not active 90 s into the boot"; }
  ready_us=$(hil_prop $GW_UNIT ActiveEnterTimestampMonotonic)
  # What survived: every alert in the outbox as the daemon opened it (the check holds the
  # previous cycle's accepted ones to it), and what the journal says (salvage, corruption).
  salv=$(journalctl -b -u $GW_UNIT -o cat --no-pager | grep -ciE 'salvag|corrupt|malformed')
  hil_mark power-boot boot="$HIL_BOOT" cuts="$CUTS" kernel_to_ready_ms=$(( ready_us / 1000 )) salvage_lines="$salv" \
    outbox_alerts="$(hil_sql "$OUTBOX" "SELECT count(*) FROM alerts" 2>/dev/null || echo unreadable)"
  hil_sql "$OUTBOX" "SELECT '@@HIL at-boot boot=$HIL_BOOT seq=' || sequence || ' id=' || id FROM alerts ORDER BY sequence" ||
    hil_mark outbox-unreadable boot="$HIL_BOOT"
  journalctl -b -u $GW_UNIT -o cat --no-pager | grep -iE 'salvag|corrupt|malformed' | head -n 5 | sed "s/^/@@HIL gateway-start-log boot=$HIL_BOOT /"
  if [ "$HIL_BOOT" -gt "$CUTS" ]; then
    # The last boot: the receiver comes back; everything accepted is delivered.
    t0=$(monotime)
    hil_rx_up_and_drain 90 "the receiver came back"
    hil_mark delivered boot="$HIL_BOOT" ms=$(( ($(monotime) - t0) / 1000000 ))
    hil_sql "$RXDB" "SELECT '@@HIL rx-alert seq=' || sequence || ' id=' || id || ' kind=' || kind FROM alerts ORDER BY rowid"
    hil_sql "$RXDB" "SELECT '@@HIL rx-event type=' || type || ' text=' || replace(text, ' ', '_') FROM events WHERE type IN ('gap', 'seq-reuse')"
    hil_mark power-cuts-done boots="$HIL_BOOT"
    exit 0
  fi
fi
hil_sim hil-a; PULL=$(hil_pull_file 0)
hil_wait_requested 0 panic-gateway 20000 || hil_fail "boot $HIL_BOOT: line 0 not requested"
last=$(hil_sql "$OUTBOX" "SELECT coalesce(max(sequence), 0) FROM alerts")
# The watcher: every alert seen committed in the outbox, on the console at once.
( while :; do
    hil_sql "$OUTBOX" "SELECT '@@HIL accepted cycle=$HIL_BOOT seq=' || sequence || ' id=' || id || ' kind=' || kind FROM alerts WHERE sequence > $last ORDER BY sequence" > /tmp/acc.new 2>/dev/null &&
      [ -s /tmp/acc.new ] && { cat /tmp/acc.new; last=$(tail -n 1 /tmp/acc.new | sed 's/.* seq=\([0-9]*\) .*/\1/'); }
    usleep 30000
  done ) &
hil_mark pressing cycle="$HIL_BOOT"
i=0
while [ "$i" -lt 40 ]; do
  flip "$PULL" up >/dev/null 2>&1; usleep 120000
  flip "$PULL" down >/dev/null 2>&1; usleep 180000
  i=$((i + 1))
done
hil_fail "boot $HIL_BOOT: no power cut within 12 s of pressing"
