# Helpers of the Debian guest's scenarios (dash), installed as /hil/debian.sh; they
# source the busybox guest's /hil/lib.sh and /hil/gateway.sh (busybox's usleep stands in).
usleep() { busybox usleep "$1"; }
. /hil/lib.sh
. /hil/gateway.sh

GW_UNIT=panic-gateway.service
RX_UNIT=panic-receiver.service
OUTBOX=/var/lib/panic-gateway/outbox.db
RXDB=/var/lib/panic-receiver/receiver.db
HIL_GW_ID=hil-gw

# hil_prop UNIT PROPERTY: one property of a unit (systemctl show -P).
hil_prop() { systemctl show -P "$2" "$1"; }

# hil_until TIMEOUT_MS CMD...: runs CMD every 20 ms until it succeeds; returns 1 on timeout.
hil_until() {
  local deadline=$(( $(monotime) + $1 * 1000000 )); shift
  until "$@"; do
    [ "$(monotime)" -lt "$deadline" ] || return 1
    usleep 20000
  done
}

# hil_wait_active UNIT TIMEOUT_MS: waits until UNIT is active; returns 1 on timeout.
hil_is_active() { [ "$(systemctl is-active "$1")" = active ]; }
hil_wait_active() { hil_until "$2" hil_is_active "$1"; }

# hil_journal_marks UNIT TAG [N]: the last N (20) journal lines of UNIT as markers.
hil_journal_marks() { journalctl -u "$1" -n "${3:-20}" -o short-monotonic --no-pager 2>&1 | tr -d '\r' | sed "s/^/@@HIL $2 /"; }

# hil_wait_journal UNIT REGEX TIMEOUT_MS: waits until UNIT's journal (this boot) has a
# line matching REGEX (grep -E).
hil_journal_has() { journalctl -b -u "$1" -o cat --no-pager 2>/dev/null | grep -qE "$2"; }
hil_wait_journal() { hil_until "$3" hil_journal_has "$1" "$2"; }

# hil_rx_count WHERE: alerts the receiver stored that match the SQL condition.
hil_rx_count() { hil_sql "$RXDB" "SELECT count(*) FROM alerts WHERE $1" 2>/dev/null || echo 0; }
# hil_rx_wait WHERE MIN TIMEOUT_MS WHAT: waits for MIN such alerts or fails with WHAT.
hil_rx_wait() {
  local n
  n=$(hil_wait_count "$RXDB" "SELECT count(*) FROM alerts WHERE $1" "$2" "$3") || {
    hil_journal_marks "$GW_UNIT" gateway-journal 25
    hil_fail "the receiver has $n of $2 alert(s) for $4 after $3 ms"; }
}
# hil_input_is NAME KIND: the SQL condition for one input's alerts of one kind.
hil_input_is() { echo "json_extract(CAST(body AS TEXT), '\$.input') = '$1' AND kind = '$2'"; }

# hil_press PULL_FILE [HOLD_MS]: one press of a gpio-sim button wired pull-down/active-high.
hil_press() {
  flip "$1" up >/dev/null 2>&1 || hil_fail "flip $1 up failed"
  usleep $(( ${2:-150} * 1000 ))
  flip "$1" down >/dev/null 2>&1 || hil_fail "flip $1 down failed"
  usleep 150000
}

# hil_gw_toml INPUTS_TOML: the operator's /etc/panic-gateway/gateway.toml (replacing the
# packaged example): gateway hil-gw, the given inputs, one uplink to the guest's receiver.
hil_gw_toml() {
  cat > /etc/panic-gateway/gateway.toml <<EOT
# Edited by the operator (the HIL appliance scenario).
gateway_id = "$HIL_GW_ID"
site = "HIL Debian guest"

$1

[[uplinks]]
name = "central"
url = "http://127.0.0.1:8080"
heartbeat_interval_s = 1
backoff_initial_ms = 50
backoff_max_ms = 500
EOT
}

# hil_gpio_input NAME CHIP_LABEL LINE ZONE [BIAS]: one [[inputs]] table for a gpio-sim
# line (BIAS default pull-down; "as-is" keeps the simulator's pull, so a button held
# while no process holds the line is still held when the next one requests it).
hil_gpio_input() {
  printf '[[inputs]]\nname = "%s"\nkind = "panic"\nzone = %s\ndebounce = { mode = "immediate", window_ms = 20 }\nsource = { type = "gpio", chip = "%s", line = %s, bias = "%s", active_low = false }\n\n' "$1" "$4" "$2" "$3" "${5:-pull-down}"
}

# hil_receiver_setup PUBKEY: /etc/panic-receiver/receiver.toml (plain HTTP on loopback,
# gateway hil-gw with PUBKEY), then starts panic-receiver.service and waits for /readyz.
hil_receiver_setup() {
  cat > /etc/panic-receiver/receiver.toml <<EOT
listen = "127.0.0.1:8080"
database = "$RXDB"

[[gateways]]
id = "$HIL_GW_ID"
public_keys = ["$1"]
EOT
  systemctl start "$RX_UNIT" || { hil_journal_marks "$RX_UNIT" receiver-journal; hil_fail "systemctl start $RX_UNIT failed"; }
  hil_wait_ready_rx 20000
}
hil_rx_ready() { busybox wget -q -O /dev/null http://127.0.0.1:8080/readyz 2>/dev/null; }
hil_wait_ready_rx() {
  hil_until "$1" hil_rx_ready || { hil_journal_marks "$RX_UNIT" receiver-journal; hil_fail "the receiver is not ready within $1 ms"; }
}

# hil_gpio_sim_unit: a oneshot unit that makes the rig's gpio-sim chips at every boot
# before panic-gateway starts (on a box the chips are the board's, present at boot).
# Chips: "hil-a" and "hil-b", 8 lines each.
hil_gpio_sim_unit() {
  cat > /usr/local/sbin/hil-gpio-sim <<'EOT'
#!/bin/sh
modprobe gpio-sim-oot || exit 1
for c in hil-a hil-b; do
  d=/sys/kernel/config/gpio-sim/$c
  [ -d "$d" ] && continue
  mkdir "$d" "$d/bank0" && echo 8 > "$d/bank0/num_lines" && echo "$c" > "$d/bank0/label" && echo 1 > "$d/live" || exit 1
done
EOT
  chmod 755 /usr/local/sbin/hil-gpio-sim
  cat > /etc/systemd/system/hil-gpio-sim.service <<'EOT'
[Unit]
Description=HIL: the simulated GPIO chips (the rig's board)
DefaultDependencies=no
After=sys-kernel-config.mount systemd-udevd.service
Before=panic-gateway.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/hil-gpio-sim
[Install]
WantedBy=sysinit.target
EOT
  systemctl enable hil-gpio-sim.service >/dev/null 2>&1 && systemctl start hil-gpio-sim.service ||
    hil_fail "hil-gpio-sim.service did not start"
}

# hil_sim CHIP_LABEL: sets HIL_CHIP and HIL_SIMDEV for the gpio-sim chip with that label.
hil_sim() {
  local d=/sys/kernel/config/gpio-sim/$1
  HIL_CHIP=$(cat "$d/bank0/chip_name"); HIL_SIMDEV=$(cat "$d/dev_name")
  [ -c "/dev/$HIL_CHIP" ] || hil_fail "/dev/$HIL_CHIP of $1 is not there"
}

# hil_rx_up_and_drain TIMEOUT_S AFTER: starts the receiver, waits for /readyz, then until
# the outbox has nothing pending (fails naming AFTER: "the restart", "the upgrade", …).
hil_rx_up_and_drain() {
  systemctl start "$RX_UNIT"; hil_wait_ready_rx 30000
  local deadline=$(( $(monotime) + $1 * 1000000000 ))
  while [ "$(hil_sql "$OUTBOX" "SELECT count(*) FROM deliveries WHERE state = 'pending'")" != 0 ]; do
    [ "$(monotime)" -lt "$deadline" ] || { hil_journal_marks "$GW_UNIT" gateway-journal 30; hil_fail "alerts still pending $1 s after $2"; }
    usleep 50000
  done
}
