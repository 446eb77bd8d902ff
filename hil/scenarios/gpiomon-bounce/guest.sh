# Runs in the guest as /scenario.sh (busybox sh).
. /hil/lib.sh
hil_gpiosim_chip hil 8 hil-buttons
hil_mark chip name="$HIL_CHIP" dev="$HIL_SIMDEV" lines=8
PULL=$(hil_pull_file 0)
[ -w "$PULL" ] || hil_fail "no pull file $PULL"

# A press that bounces: the line starts pulled down (0); GAP_US:VALUE, gaps in microseconds.
TRAIN="up 2000:down 1000:up 3000:down 1500:up 2500:down 2000:up"
N=$(echo $TRAIN | wc -w)

gpiomon -b -n "$N" -F 'edge type=%e offset=%o s=%s ns=%n' "$HIL_CHIP" 0 > /tmp/gpiomon.out 2>&1 &
gm=$!
hil_wait_requested 0 gpiomon 15000 || hil_fail "gpiomon did not request line 0 within 15 s: $(cat /tmp/gpiomon.out)"
hil_mark train writes="$N" plan="$(echo $TRAIN | tr ' ' ',')" start_mono_ns="$(monotime)"
# shellcheck disable=SC2086
flip "$PULL" $TRAIN > /tmp/flip.out 2>&1 || hil_fail "flip: $(cat /tmp/flip.out | tr '\n' ' ')"

# gpiomon exits by itself after N events; wait at most 5 s.
i=0
while kill -0 "$gm" 2>/dev/null && [ "$i" -lt 500 ]; do usleep 10000; i=$((i + 1)); done
if kill -0 "$gm" 2>/dev/null; then kill "$gm"; hil_mark gpiomon-still-running after_s=5; fi
wait "$gm"
hil_mark gpiomon rc=$?
sed 's/^/@@HIL /' /tmp/flip.out
sed 's/^/@@HIL /' /tmp/gpiomon.out
hil_mark final value="$(cat "$(hil_value_file 0)")"
