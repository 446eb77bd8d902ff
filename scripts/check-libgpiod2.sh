#!/usr/bin/env bash
# Compile-checks the libgpiod shim against libgpiod 2.x (Debian 13's API),
# without touching the system: Debian 13's libgpiod-dev and libgpiod3 are
# downloaded with a private apt state and unpacked under .build/gpiod2, then
# a small C program that calls every shim function is compiled and linked.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work="$top/.build/gpiod2"
mkdir -p "$work/apt/lists/partial" "$work/apt/archives/partial" "$work/debs"
cat > "$work/apt/sources.list" <<SRC
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
SRC
opts=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache::Archives="$work/apt/archives"
      -o Dir::State::Status=/dev/null -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0)
if ! ls "$work"/debs/libgpiod-dev_2*.deb >/dev/null 2>&1; then
  apt-get "${opts[@]}" update -qq
  (cd "$work/debs" && apt-get "${opts[@]}" download libgpiod-dev libgpiod3)
fi
rm -rf "$work/root"
for d in "$work"/debs/*.deb; do dpkg -x "$d" "$work/root"; done
inc="$work/root/usr/include"
lib=$(dirname "$(find "$work/root" -name 'libgpiod.so.3*' | head -n1)")
ln -sf "$(basename "$(find "$lib" -name 'libgpiod.so.3.*' | head -n1)")" "$lib/libgpiod.so"
version=$(dpkg-deb -f "$(ls "$work"/debs/libgpiod-dev_*.deb)" Version)
cat > "$work/check.c" <<'C'
#include "shim.h"
#include <stdio.h>
int main(void) {
    char a[64], b[64];
    cpanic_gpio_event ev[16];
    printf("%s\n", cpanic_gpio_api());
    (void)cpanic_gpio_chip_info("/dev/gpiochip0", a, 64, b, 64);
    (void)cpanic_gpio_line_info("/dev/gpiochip0", 0, a, 64, b, 64);
    (void)cpanic_gpio_find_line("/dev/gpiochip0", "x");
    cpanic_gpio *g = cpanic_gpio_request("/dev/gpiochip0", 0, CPANIC_BIAS_PULL_UP, 1, "check");
    if (g) { (void)cpanic_gpio_fd(g); (void)cpanic_gpio_value(g); (void)cpanic_gpio_read(g, ev, 16); cpanic_gpio_release(g); }
    cpanic_gpio *lamp = cpanic_gpio_request_output("/dev/gpiochip0", 1, 0, 0, "check");
    if (lamp) { (void)cpanic_gpio_set(lamp, 1); cpanic_gpio_release(lamp); }
    return 0;
}
C
gcc -Wall -Werror -I "$inc" -I "$top/Sources/CGpiod" "$work/check.c" -L "$lib" -lgpiod -o "$work/check"
api=$(LD_LIBRARY_PATH="$lib" "$work/check")
echo "libgpiod $version: shim compiles and links; it reports: $api"
[ "$api" = "libgpiod 2.x (v2 API)" ]
