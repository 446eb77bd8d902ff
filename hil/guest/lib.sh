# Guest-side helpers (busybox sh), installed as /hil/lib.sh; scenarios source it.
# Console markers, parsed on the host:  "@@HIL <event> key=value ..."  and
# "@@HIL-FAIL <reason>" (the scenario failed; the reason is shown on the host).

hil_mark() { echo "@@HIL $*"; }
hil_fail() { echo "@@HIL-FAIL $*"; exit 1; }

# hil_gpiosim_chip NAME NUM_LINES [LABEL]: creates and enables a gpio-sim chip
# with one bank; sets HIL_CHIP (gpiochipN) and HIL_SIMDEV (gpio-sim.M).
hil_gpiosim_chip() {
  local d=/sys/kernel/config/gpio-sim/$1
  [ -d /sys/kernel/config/gpio-sim ] || hil_fail "no /sys/kernel/config/gpio-sim (gpio-sim-oot not loaded?)"
  mkdir "$d" "$d/bank0" || hil_fail "mkdir $d failed"
  echo "$2" > "$d/bank0/num_lines"
  echo "${3:-$1}" > "$d/bank0/label"
  echo 1 > "$d/live" || hil_fail "gpio-sim $1: live=1 refused"
  HIL_CHIP=$(cat "$d/bank0/chip_name")
  HIL_SIMDEV=$(cat "$d/dev_name")
  [ -c "/dev/$HIL_CHIP" ] || hil_fail "/dev/$HIL_CHIP did not appear"
}

# hil_pull_file LINE: the pull file of line LINE of the chip made last.
hil_pull_file() { echo "/sys/devices/platform/$HIL_SIMDEV/$HIL_CHIP/sim_gpio$1/pull"; }
# hil_value_file LINE: the value the simulator drives on line LINE (0/1).
hil_value_file() { echo "/sys/devices/platform/$HIL_SIMDEV/$HIL_CHIP/sim_gpio$1/value"; }

# hil_wait_requested LINE CONSUMER TIMEOUT_MS: waits until CONSUMER holds line
# LINE of $HIL_CHIP (read from debugfs). Write pull files only after that: a bias
# the consumer requests overrides them.
hil_wait_requested() {
  local deadline=$(( $(monotime) + $3 * 1000000 ))
  [ -r /sys/kernel/debug/gpio ] || hil_fail "no /sys/kernel/debug/gpio to watch line requests"
  while [ "$(monotime)" -lt "$deadline" ]; do
    # "gpiochip0: GPIOs 512-519, parent: platform/gpio-sim.0, LABEL:" then " gpio-514 (name|consumer) in lo IRQ"
    if awk -v chip="$HIL_CHIP:" -v line="$1" -v who="$2" '
         $1 ~ /^gpiochip[0-9]+:$/ { inchip = ($1 == chip); if (inchip) { split($3, r, "-"); base = r[1] } next }
         inchip && $1 == "gpio-" (base + line) && index($0, "|" who) { found = 1 }
         END { exit !found }' /sys/kernel/debug/gpio; then return 0; fi
    usleep 5000
  done
  return 1
}

# hil_prefix CMD...: runs CMD, each output line prefixed with "@@HIL " (a marker).
hil_prefix() { "$@" 2>&1 | sed 's/^/@@HIL /'; }

# hil_rt_offset: prints "OFFSET_NS SPAN_NS": CLOCK_REALTIME minus CLOCK_MONOTONIC,
# from the tightest of 3 tries of monotime, monotime realtime, monotime (the realtime
# read is taken as the midpoint; the error is at most SPAN/2). Constant in the guest
# (nothing steps its clock): converts CLOCK_MONOTONIC stamps to the wall clock.
hil_rt_offset() {
  local i a r b best="" span=""
  for i in 1 2 3; do
    a=$(monotime); r=$(monotime realtime); b=$(monotime)
    if [ -z "$span" ] || [ $((b - a)) -lt "$span" ]; then span=$((b - a)); best=$((r - (a + b) / 2)); fi
  done
  echo "$best $span"
}
