# appliance-install, in the Debian guest (dash), once per boot (HIL_BOOT).
. /hil/debian.sh

# host_do ACTION N: asks the host driver (QMP, the FTDI chardev) to act; it answers by
# waiting for the markers below (node-up, gw-open, done …).
host_do() { hil_mark host-do action="$1" n="$2" mono_ns="$(monotime)"; }

ms_between() { echo $(( ($2 - $1) / 1000 )); }   # two µs stamps → ms

if [ "$HIL_BOOT" = 1 ]; then
  # --- the board's GPIO chips exist before the package (the postinst must fix their group)
  hil_gpio_sim_unit
  udevadm settle
  hil_sim hil-a; CHIP_A=$HIL_CHIP; PULL_A0=$(hil_pull_file 0); PULL_A1=$(hil_pull_file 1)
  hil_sim hil-b; CHIP_B=$HIL_CHIP; PULL_B0=$(hil_pull_file 0)
  hil_mark chips-before-install a="$CHIP_A:$(stat -c %G:%a /dev/$CHIP_A)" b="$CHIP_B:$(stat -c %G:%a /dev/$CHIP_B)"

  # --- 1. dpkg -i, as an installer would
  t0=$(monotime)
  dpkg -i /hil/debs/panic-gateway.deb > /tmp/dpkg.out 2>&1; rc=$?
  hil_mark dpkg-install rc="$rc" ms=$(( ($(monotime) - t0) / 1000000 )) version="$(dpkg-query -W -f='${Version}' panic-gateway 2>/dev/null)"
  hil_tail_marks /tmp/dpkg.out dpkg 8
  [ "$rc" = 0 ] || hil_fail "dpkg -i panic-gateway.deb exited $rc"
  udevadm settle
  hil_mark after-install enabled="$(systemctl is-enabled $GW_UNIT)" active="$(systemctl is-active $GW_UNIT)" \
    user="$(id -un panic-gateway 2>/dev/null):$(id -Gn panic-gateway 2>/dev/null | tr ' ' ,)" \
    state_dir="$(stat -c %U:%G:%a /var/lib/panic-gateway)" \
    chip_a="$(stat -c %G:%a /dev/$CHIP_A)" chip_b="$(stat -c %G:%a /dev/$CHIP_B)" \
    rules="$(ls /lib/udev/rules.d | grep -c panic-gateway)"

  # --- docs/INSTALL.md step 3: the key, the receiver's entry, the configuration
  panicctl keys generate > /tmp/keys.out 2>&1 || { hil_tail_marks /tmp/keys.out keys; hil_fail "panicctl keys generate failed"; }
  chown panic-gateway: /var/lib/panic-gateway/gateway.key
  PUB=$(sed -n 's/^public key: *//p' /tmp/keys.out)
  [ -n "$PUB" ] || hil_fail "panicctl keys generate printed no public key"
  hil_receiver_setup "$PUB"
  INPUTS="$(hil_gpio_input teller hil-a 0 1)
$(hil_gpio_input vault hil-b 0 2 as-is)
[[serial_devices]]
name = \"box\"
protocol = \"line\"
vendor_id = \"0403\"
product_id = \"6001\"
baud = 115200
absent_grace_s = 30

[[inputs]]
name = \"box-1\"
kind = \"panic\"
zone = 4
source = { type = \"serial\", device = \"box\", button = \"1\" }"
  hil_gw_toml "$INPUTS"
  out=$(panic-gateway check-config /etc/panic-gateway/gateway.toml 2>&1); rc=$?
  hil_mark check-config rc="$rc" out="$(echo "$out" | tr ' \n' '_ ' | cut -c1-160)"
  [ "$rc" = 0 ] || hil_fail "check-config refused the configuration: $out"

  # --- step 4: enable --now. Type=notify: systemctl returns once READY=1 arrived.
  t0=$(monotime)
  systemctl enable --now $GW_UNIT > /tmp/enable.out 2>&1 || { hil_journal_marks $GW_UNIT gateway-journal 30; hil_fail "systemctl enable --now failed: $(tr '\n' ' ' < /tmp/enable.out)"; }
  t1=$(monotime)
  PID=$(hil_prop $GW_UNIT MainPID)
  start_us=$(hil_prop $GW_UNIT ExecMainStartTimestampMonotonic); ready_us=$(hil_prop $GW_UNIT ActiveEnterTimestampMonotonic)
  hil_mark started active="$(systemctl is-active $GW_UNIT)" sub="$(hil_prop $GW_UNIT SubState)" pid="$PID" \
    enable_now_ms=$(( (t1 - t0) / 1000000 )) exec_to_ready_ms="$(ms_between "$start_us" "$ready_us")" \
    status="$(hil_prop $GW_UNIT StatusText | tr ' ' _)" watchdog_usec="$(hil_prop $GW_UNIT WatchdogUSec)"
  # The live process: its user, groups, capabilities, no_new_privs, seccomp, namespace.
  st=/proc/$PID/status
  hil_mark sandbox uid="$(awk '/^Uid:/{print $2}' $st)" want_uid="$(id -u panic-gateway)" \
    gid="$(awk '/^Gid:/{print $2}' $st)" want_gid="$(id -g panic-gateway)" \
    groups="$(awk '/^Groups:/{$1=""; print}' $st | tr -s ' ' | sed 's/^ //; s/ $//' | tr ' ' ,)" dialout="$(getent group dialout | cut -d: -f3)" \
    cap_eff="$(awk '/^CapEff:/{print $2}' $st)" cap_bnd="$(awk '/^CapBnd:/{print $2}' $st)" \
    no_new_privs="$(awk '/^NoNewPrivs:/{print $2}' $st)" seccomp="$(awk '/^Seccomp:/{print $2}' $st)" \
    own_mnt_ns="$([ "$(readlink /proc/1/ns/mnt)" != "$(readlink /proc/$PID/ns/mnt)" ] && echo yes || echo no)" \
    user="$(ps -o user= -p "$PID")"
  sec=$(systemd-analyze security $GW_UNIT --no-pager 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: *\([0-9.]*\).*/\1/p')
  hil_mark security exposure="${sec:-none}"
  systemd-analyze security $GW_UNIT --no-pager 2>&1 | awk '$1 == "✗"' | head -n 12 | sed 's/^/@@HIL security-open /'

  # --- presses on each GPIO input
  HIL_CHIP=$CHIP_A; hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request $CHIP_A line 0"
  HIL_CHIP=$CHIP_B; hil_wait_requested 0 panic-gateway 15000 || hil_fail "panic-gateway did not request $CHIP_B line 0"
  hil_press "$PULL_A0"; hil_rx_wait "$(hil_input_is teller panic)" 1 10000 "the teller press"
  hil_press "$PULL_B0"; hil_rx_wait "$(hil_input_is vault panic)" 1 10000 "the vault press"
  hil_mark gpio-presses teller="$(hil_rx_count "$(hil_input_is teller panic)")" vault="$(hil_rx_count "$(hil_input_is vault panic)")"

  # --- 2. real udev: a hot-added FTDI adapter
  host_do add 1
  t=$(waitpath /dev/ttyUSB0 20000) || hil_fail "no /dev/ttyUSB0 within 20 s of the hot-add"
  udevadm settle
  link=$(ls /dev/panic/ 2>/dev/null | head -n 1)
  hil_mark node-up n=1 mono_ns="$t" link="${link:-none}" target="$(readlink -f /dev/panic/$link 2>/dev/null)" \
    tty="$(stat -c %G:%a /dev/ttyUSB0)" by_id="$(ls /dev/serial/by-id 2>/dev/null | head -n 1)" \
    mm_ignore="$(udevadm info -q property /dev/ttyUSB0 | sed -n 's/^ID_MM_DEVICE_IGNORE=//p')"
  hil_wait_journal $GW_UNIT 'serial device open' 5000 || { hil_journal_marks $GW_UNIT gateway-journal 20; hil_fail "the daemon did not open /dev/ttyUSB0 within 5 s"; }
  hil_mark gw-open n=1 mono_ns="$(monotime)"
  host_do press 1
  hil_rx_wait "$(hil_input_is box-1 panic)" 1 10000 "the serial button's press"
  hil_mark done action=press n=1 mono_ns="$(monotime)"
  host_do release 1
  hil_rx_wait "json_extract(CAST(body AS TEXT), '\$.input') = 'box-1' AND kind = 'restore'" 1 10000 "the serial button's release"
  hil_mark done action=release n=1 mono_ns="$(monotime)"

  # --- 4a. reload: an input added
  hil_gw_toml "$INPUTS
$(hil_gpio_input reception hil-a 1 3)"
  systemctl reload $GW_UNIT || hil_fail "systemctl reload failed"
  HIL_CHIP=$CHIP_A; hil_wait_requested 1 panic-gateway 15000 || { hil_journal_marks $GW_UNIT gateway-journal 20; hil_fail "after reload, line 1 (reception) was not requested within 15 s"; }
  hil_press "$PULL_A1"; hil_rx_wait "$(hil_input_is reception panic)" 1 10000 "the press on the input added by reload"
  hil_mark reloaded pid_kept="$([ "$(hil_prop $GW_UNIT MainPID)" = "$PID" ] && echo yes || echo no)" reception="$(hil_rx_count "$(hil_input_is reception panic)")"

  # --- 6. journal: a refused reload is an error with its priority; no key material
  cp /etc/panic-gateway/gateway.toml /tmp/good.toml
  sed -i 's/^zone = 3$/zone = 12000/' /etc/panic-gateway/gateway.toml
  systemctl reload $GW_UNIT
  hil_wait_journal $GW_UNIT '12000' 10000 || { hil_journal_marks $GW_UNIT gateway-journal 20; hil_fail "the refused reload left no journal line naming zone 12000"; }
  cp /tmp/good.toml /etc/panic-gateway/gateway.toml
  systemctl reload $GW_UNIT
  errs=$(journalctl -b -u $GW_UNIT -p err -o cat --no-pager | grep -c 12000)
  prio=$(journalctl -b -u $GW_UNIT -o export --no-pager | awk -v RS= '/MESSAGE=[^\n]*12000/' | sed -n 's/^PRIORITY=//p' | head -n 1)
  # The PEM body (PKCS#8 DER in base64) and the 32-byte seed in base64: neither may be logged.
  key_body=$(grep -v -- '-----' /var/lib/panic-gateway/gateway.key | tr -d '\n')
  key_seed=$(printf '%s' "$key_body" | base64 -d | tail -c 32 | base64 -w0)
  [ ${#key_seed} = 44 ] || hil_fail "could not read the seed out of gateway.key (${#key_seed} base64 characters)"
  leak=$(journalctl -b -o export --no-pager | grep -a -c -F -e "$key_body" -e "$key_seed" -e "PRIVATE KEY")
  hil_mark journal err_lines="$errs" priority="${prio:-none}" active_after="$(systemctl is-active $GW_UNIT)" \
    key_leaks="$leak" key_bytes="$(stat -c %s /var/lib/panic-gateway/gateway.key)" key_mode="$(stat -c %U:%a /var/lib/panic-gateway/gateway.key)"
  journalctl -b -u $GW_UNIT -p err -o cat --no-pager | head -n 3 | sed 's/^/@@HIL journal-err /'

  # --- 4b. restart with alerts pending: the receiver down, 3 presses, restart, receiver up
  systemctl stop $RX_UNIT
  s0=$(hil_sql "$OUTBOX" "SELECT coalesce(max(sequence), 0) FROM alerts")
  for i in 1 2 3; do hil_press "$PULL_A0"; done
  n=$(hil_wait_count "$OUTBOX" "SELECT count(*) FROM deliveries d JOIN alerts a ON a.sequence = d.sequence WHERE d.state = 'pending' AND a.sequence > $s0" 6 10000) ||
    hil_fail "the outbox holds $n of 6 pending alerts after 3 presses"
  hil_sql "$OUTBOX" "SELECT '@@HIL pending seq=' || sequence || ' id=' || id || ' kind=' || kind FROM alerts WHERE sequence > $s0 ORDER BY sequence"
  t0=$(monotime)
  systemctl restart $GW_UNIT || hil_fail "systemctl restart failed"
  t1=$(monotime)
  hil_rx_up_and_drain 30 "the restart"
  hil_mark restarted restart_ms=$(( (t1 - t0) / 1000000 )) new_pid="$(hil_prop $GW_UNIT MainPID)" old_pid="$PID" \
    n_restarts="$(hil_prop $GW_UNIT NRestarts)"
  hil_sql "$RXDB" "SELECT '@@HIL rx-after-restart seq=' || sequence || ' id=' || id || ' kind=' || kind FROM alerts WHERE sequence > $s0 ORDER BY rowid"
  exit 100   # reboot: boot 2 follows
fi

if [ "$HIL_BOOT" = 2 ]; then
  # --- power on → READY=1: the unit is enabled; the chips are made at boot.
  hil_wait_active $GW_UNIT 60000 || { hil_journal_marks $GW_UNIT gateway-journal 30; hil_fail "panic-gateway is not active 60 s into boot 2"; }
  ready_us=$(hil_prop $GW_UNIT ActiveEnterTimestampMonotonic); start_us=$(hil_prop $GW_UNIT ExecMainStartTimestampMonotonic)
  hil_sim hil-a; CHIP_A=$HIL_CHIP; PULL_A0=$(hil_pull_file 0)
  hil_sim hil-b; CHIP_B=$HIL_CHIP; PULL_B0=$(hil_pull_file 0)
  hil_mark boot-ready kernel_to_ready_ms=$(( ready_us / 1000 )) exec_to_ready_ms="$(ms_between "$start_us" "$ready_us")" \
    userspace="$(systemd-analyze 2>/dev/null | head -n 1 | tr ' ' _)" chip_a="$(stat -c %G:%a /dev/$CHIP_A)" \
    n_restarts="$(hil_prop $GW_UNIT NRestarts)"
  systemd-analyze blame --no-pager 2>/dev/null | head -n 6 | awk '{print "@@HIL boot-blame " $1 " " $2}'
  systemctl start $RX_UNIT; hil_wait_ready_rx 20000
  before=$(hil_rx_count "$(hil_input_is teller panic)")
  HIL_CHIP=$CHIP_A; hil_wait_requested 0 panic-gateway 15000 || hil_fail "after boot, $CHIP_A line 0 was not requested"
  hil_press "$PULL_A0"; hil_rx_wait "$(hil_input_is teller panic)" $((before + 1)) 10000 "the press after the reboot"
  hil_mark after-reboot teller="$(hil_rx_count "$(hil_input_is teller panic)")" before="$before"

  # --- 3. watchdog: the input-loop thread alone stops (ptrace); the others run on.
  PID=$(hil_prop $GW_UNIT MainPID)
  TID=""
  for t in /proc/$PID/task/*; do [ "$(cat "$t/comm")" = input-loop ] && TID=${t##*/}; done
  [ -n "$TID" ] || hil_fail "no thread named input-loop in $PID: $(cat /proc/$PID/task/*/comm | tr '\n' ,)"
  freeze "$TID" 90 > /tmp/freeze.out 2>&1 &
  hil_wait_file_line /tmp/freeze.out '^frozen ' 5000 || hil_fail "freeze $TID: $(cat /tmp/freeze.out)"
  t_freeze=$(sed -n 's/^frozen .*mono_ns=//p' /tmp/freeze.out)
  hil_mark frozen pid="$PID" tid="$TID" threads="$(ls /proc/$PID/task | wc -l)" mono_ns="$t_freeze"
  vault_before=$(hil_rx_count "$(hil_input_is vault panic)")
  usleep 2000000
  flip "$PULL_B0" up >/dev/null 2>&1 || hil_fail "flip up failed"    # vault pressed during the hang, and held
  t_press=$(monotime)
  deadline=$(( t_freeze + 60000000000 ))
  while :; do
    np=$(hil_prop $GW_UNIT MainPID)
    [ "$np" != "$PID" ] && [ "$np" != 0 ] && [ "$(systemctl is-active $GW_UNIT)" = active ] && break
    [ "$(monotime)" -lt "$deadline" ] || { hil_journal_marks $GW_UNIT gateway-journal 30; hil_fail "no restart within 60 s of the hang (pid $np)"; }
    usleep 20000
  done
  t_up=$(monotime)
  # systemd's own times: the watchdog fired (journal, CLOCK_MONOTONIC s), the new process READY.
  wd_s=$(journalctl -b -u $GW_UNIT -o short-monotonic --no-pager | sed -n 's/^\[ *\([0-9.]*\)\].*Watchdog timeout.*/\1/p' | head -n 1)
  hil_mark watchdog-restart old_pid="$PID" new_pid="$np" freeze_to_active_ms=$(( (t_up - t_freeze) / 1000000 )) \
    freeze_to_timeout_ms="$(awk -v a="$t_freeze" -v b="$wd_s" 'BEGIN{ if (b == "") print "none"; else printf "%d", b * 1000 - a / 1000000 }')" \
    timeout_to_ready_ms="$(awk -v a="$wd_s" -v b="$(hil_prop $GW_UNIT ActiveEnterTimestampMonotonic)" 'BEGIN{ if (a == "") print "none"; else printf "%d", b / 1000 - a * 1000 }')" \
    n_restarts="$(hil_prop $GW_UNIT NRestarts)" \
    watchdog_line="$(journalctl -b -u $GW_UNIT -o cat --no-pager | grep -ci 'watchdog timeout')" \
    result_line="$(journalctl -b -u $GW_UNIT -o cat --no-pager | grep -c "Failed with result 'watchdog'")"
  hil_wait_file_line /tmp/freeze.out '^ended ' 5000 && hil_mark freeze-ended "$(sed -n 's/^ended //p' /tmp/freeze.out)"
  hil_rx_wait "$(hil_input_is vault panic)" $((vault_before + 1)) 15000 "the vault press held through the restart"
  hil_mark held-press delivered_ms_after_press=$(( ($(monotime) - t_press) / 1000000 ))
  flip "$PULL_B0" down >/dev/null 2>&1
  hil_rx_wait "json_extract(CAST(body AS TEXT), '\$.input') = 'vault' AND kind = 'restore'" 2 10000 "the vault release after the restart"
  hil_wait_count "$RXDB" "SELECT count(*) FROM events WHERE type = 'back'" 1 15000 > /dev/null || true
  hil_wait_count "$RXDB" "SELECT count(*) FROM events WHERE type = 'restart' AND text LIKE '%unclean%'" 1 15000 > /dev/null || true
  hil_sql "$RXDB" "SELECT '@@HIL rx-event type=' || type || ' text=' || replace(text, ' ', '_') FROM events WHERE type IN ('silent', 'back', 'restart')"

  # --- 5. upgrade over undelivered alerts: the receiver down, two presses (four alerts).
  PID=$(hil_prop $GW_UNIT MainPID)
  conf_before=$(sha256sum < /etc/panic-gateway/gateway.toml | cut -c1-16)
  systemctl stop $RX_UNIT
  s0=$(hil_sql "$OUTBOX" "SELECT coalesce(max(sequence), 0) FROM alerts")
  hil_press "$PULL_A0"; hil_press "$PULL_A0"
  n=$(hil_wait_count "$OUTBOX" "SELECT count(*) FROM deliveries d JOIN alerts a ON a.sequence = d.sequence WHERE d.state = 'pending' AND a.sequence > $s0" 4 10000) ||
    hil_fail "the outbox holds $n of 4 pending alerts"
  hil_sql "$OUTBOX" "SELECT '@@HIL up-pending seq=' || sequence || ' id=' || id FROM alerts WHERE sequence > $s0 ORDER BY sequence"
  v1=$(dpkg-query -W -f='${Version}' panic-gateway)
  t0=$(monotime)
  dpkg -i /hil/debs/panic-gateway-upgrade.deb > /tmp/dpkg2.out 2>&1; rc=$?
  t1=$(monotime)
  hil_tail_marks /tmp/dpkg2.out dpkg-upgrade 6
  [ "$rc" = 0 ] || hil_fail "dpkg -i of the upgrade exited $rc"
  hil_wait_active $GW_UNIT 30000 || hil_fail "panic-gateway not active after the upgrade"
  hil_mark upgraded rc="$rc" ms=$(( (t1 - t0) / 1000000 )) from="$v1" to="$(dpkg-query -W -f='${Version}' panic-gateway)" \
    conf_kept="$([ "$(sha256sum < /etc/panic-gateway/gateway.toml | cut -c1-16)" = "$conf_before" ] && echo yes || echo no)" \
    dpkg_dist="$(ls /etc/panic-gateway/ | grep -c dpkg-)" old_pid="$PID" new_pid="$(hil_prop $GW_UNIT MainPID)" \
    active="$(systemctl is-active $GW_UNIT)"
  hil_rx_up_and_drain 30 "the upgrade"
  hil_sql "$RXDB" "SELECT '@@HIL rx-after-upgrade seq=' || sequence || ' id=' || id FROM alerts WHERE sequence > $s0 ORDER BY rowid"
  hil_sql "$RXDB" "SELECT '@@HIL rx-dup id=' || id || ' n=' || count(*) FROM alerts GROUP BY gateway_id, id HAVING count(*) > 1"
  hil_sql "$RXDB" "SELECT '@@HIL rx-seq-event type=' || type FROM events WHERE type IN ('gap', 'seq-reuse')"
  systemctl stop $RX_UNIT

  # --- remove keeps the state; purge removes it and the user, the outbox kept aside.
  apt-get remove -y -q panic-gateway > /tmp/remove.out 2>&1; rc=$?
  hil_mark removed rc="$rc" state_kept="$([ -f /var/lib/panic-gateway/gateway.key ] && [ -f "$OUTBOX" ] && echo yes || echo no)" \
    user_kept="$(getent passwd panic-gateway >/dev/null && echo yes || echo no)" active="$(systemctl is-active $GW_UNIT)" \
    status="$(dpkg-query -W -f='${Status}' panic-gateway | tr ' ' _)"
  apt-get purge -y -q panic-gateway > /tmp/purge.out 2>&1; rc=$?
  hil_tail_marks /tmp/purge.out purge 6
  hil_mark purged rc="$rc" state_gone="$([ -e /var/lib/panic-gateway ] && echo no || echo yes)" \
    user_gone="$(getent passwd panic-gateway >/dev/null && echo no || echo yes)" \
    group_gone="$(getent group panic-gateway >/dev/null && echo no || echo yes)" \
    outbox_backups="$(ls -d /var/backups/panic-gateway/outbox-*/outbox.db 2>/dev/null | wc -l)" \
    receiver_db_kept="$([ -f "$RXDB" ] && echo yes || echo no)" conf_gone="$([ -e /etc/panic-gateway/gateway.toml ] && echo no || echo yes)"
  exit 0
fi
hil_fail "unexpected boot $HIL_BOOT"
