#!/usr/bin/env bash
# Checks that udev parses the project's rules without complaint: udevadm
# test runs in a private mount namespace where /etc/udev/rules.d holds only
# our files and /etc/group has the panic-gateway group the package creates,
# against a tty that exists on any machine (tty0). systemd 252 has no
# `udevadm verify`; a problem shows as a log line naming file and line.
# First it proves it can fail: a rule file with a mistake must be flagged.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
command -v udevadm >/dev/null || { echo "udevadm missing: apt-get install udev" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp /etc/group "$work/group"
grep -q '^panic-gateway:' "$work/group" || echo "panic-gateway:x:990:" >> "$work/group"

complaints() {  # $1: directory of rules; prints udev's complaints about them
  local out
  out=$(unshare -m bash -c "mount --bind '$1' /etc/udev/rules.d && mount --bind '$work/group' /etc/group && udevadm test --action=add /sys/class/tty/tty0 2>&1" || true)
  echo "$out" | grep -q "^Reading rules file: /etc/udev/rules.d/" || { echo "udevadm did not read the rules:" >&2; echo "$out" | head -20 >&2; exit 1; }
  echo "$out" | grep -E "/etc/udev/rules.d/[^ ]+:[0-9]+" || true
}

mkdir "$work/broken"
printf 'SUBSYSTEM=="tty", ATTRS{idVendor}="0403", GROUP="panic-gateway"\nSUBSYSTEM=="tty", FOO=="bar"\n' > "$work/broken/99-broken.rules"
[ -n "$(complaints "$work/broken")" ] || { echo "self-test failed: a broken rule file was not flagged" >&2; exit 1; }

mkdir "$work/ours"
cp "$top"/udev/*.rules "$work/ours"/
bad=$(complaints "$work/ours")
if [ -n "$bad" ]; then echo "udev complains about our rules:"; echo "$bad"; exit 1; fi
echo "udev rules: $(ls "$work"/ours/*.rules | wc -l) file(s) parsed by udevadm $(udevadm --version) without complaint (a broken file was flagged)"
