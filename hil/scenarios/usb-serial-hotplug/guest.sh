# Runs in the guest as /scenario.sh (busybox sh). The host driver (./host) answers
# each "ready-for-…" marker: it hot-adds, sends data, reads data, hot-removes.
. /hil/lib.sh
for m in usbcore xhci_hcd xhci_pci usbserial ftdi_sio; do
  [ -d "/sys/module/$m" ] || hil_fail "module $m not loaded"
done
[ -e /dev/ttyUSB0 ] && hil_fail "/dev/ttyUSB0 exists before the hot-add"
hil_mark ready-for-add mono_ns="$(monotime)"
t_up=$(waitpath /dev/ttyUSB0 30000) || hil_fail "no /dev/ttyUSB0 within 30 s of ready-for-add"
hil_mark node-up mono_ns="$t_up"

# Identify the USB device behind the tty from sysfs (no udevd here).
d=$(readlink -f /sys/class/tty/ttyUSB0/device)
while [ "$d" != / ] && [ ! -f "$d/idVendor" ]; do d=${d%/*}; done
hil_mark usb-id vid="$(cat "$d/idVendor" 2>/dev/null)" pid="$(cat "$d/idProduct" 2>/dev/null)" \
  driver="$(basename "$(readlink -f /sys/class/tty/ttyUSB0/device/driver)")"

stty -F /dev/ttyUSB0 115200 raw -echo cs8 -parenb -cstopb clocal || hil_fail "stty on /dev/ttyUSB0 failed"
cat /dev/ttyUSB0 > /tmp/rx &
catpid=$!
# Opening an FTDI port resets the chip, which purges whatever the device had
# buffered (QEMU's model does the same): say "ready" only once cat holds the port.
end=$(( $(monotime) + 10000000000 ))
until ls -l "/proc/$catpid/fd" 2>/dev/null | grep -q ttyUSB0; do
  [ "$(monotime)" -lt "$end" ] || hil_fail "cat did not open /dev/ttyUSB0 within 10 s"
  usleep 5000
done
hil_mark rx-ready
end=$(( $(monotime) + 20000000000 ))
until grep -q HIL-END /tmp/rx; do
  [ "$(monotime)" -lt "$end" ] || hil_fail "payload end not received within 20 s ($(wc -c < /tmp/rx) bytes)"
  usleep 10000
done
hil_mark rx bytes="$(wc -c < /tmp/rx)" md5="$(md5sum < /tmp/rx | cut -d' ' -f1)" mono_ns="$(monotime)"

printf 'PONG-FROM-GUEST\n' > /dev/ttyUSB0 || hil_fail "write to /dev/ttyUSB0 failed"
hil_mark tx-sent bytes=16

hil_mark ready-for-del mono_ns="$(monotime)"
t_gone=$(waitpath -g /dev/ttyUSB0 30000) || hil_fail "/dev/ttyUSB0 still there 30 s after ready-for-del"
hil_mark node-gone mono_ns="$t_gone"
# The reader held the port open across the unplug: it must see hangup/EOF and exit.
i=0; while kill -0 "$catpid" 2>/dev/null && [ "$i" -lt 200 ]; do usleep 10000; i=$((i + 1)); done
if kill -0 "$catpid" 2>/dev/null; then hil_mark reader-after-unplug exited=0; kill "$catpid"
else hil_mark reader-after-unplug exited=1 ms="$((i * 10))"; fi
# Kernel's own account (printk stamps, seconds since boot), with a calibration line:
# printk's clock is not CLOCK_MONOTONIC.
echo "hil-clock mono_ns=$(monotime)" > /dev/kmsg
dmesg | grep -E 'new full-speed|FTDI|ttyUSB0|USB disconnect|hil-clock' | tr -s ' ' | sed 's/^/@@HIL dmesg /'
