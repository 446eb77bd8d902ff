#!/usr/bin/env bash
# Prepares the hardware-in-the-loop rig (idempotent; run as root on Debian 12):
#   - installs the Debian packages it needs (apt-get update first when something is missing),
#   - downloads Debian's kernel image linux-image-$V (.deb) and unpacks it,
#   - builds gpio-sim-oot.ko from Debian's linux-source-6.1 against linux-headers-$V,
#   - compiles the static guest helpers in hil/guest/*.c.
# Everything lands in .build/hil/ (git-ignored). Nothing GPL from the kernel is committed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

t_start=$(hil_now)
mkdir -p "$HIL_CACHE"

# 1. Packages that do not depend on the kernel ABI.
# qemu-utils (qemu-img) and debootstrap: the Debian guest of the appliance scenarios.
# libgpiod-dev: gpioread links it statically; sqlite3: the guest reads the outbox and the
# receiver's database; e2fsprogs: mkfs.ext4 for gateway-power-cut's virtio disk.
base_pkgs=(qemu-system-x86 qemu-utils debootstrap busybox-static cpio gpiod libgpiod-dev sqlite3 e2fsprogs gcc libc6-dev make xz-utils kmod)
command -v python3 >/dev/null || base_pkgs+=(python3)
hil_apt_install "${base_pkgs[@]}"

# 2. The kernel ABI, its headers, and the kernel source of the same version.
V=$(hil_kernel_abi)
img_ver=$(apt-cache policy "linux-image-$V" | awk '/Candidate:/{print $2}')
if [ -z "$img_ver" ] || [ "$img_ver" = "(none)" ]; then
  hil_apt_update
  img_ver=$(apt-cache policy "linux-image-$V" | awk '/Candidate:/{print $2}')
fi
[ -n "$img_ver" ] && [ "$img_ver" != "(none)" ] || hil_die "no candidate for linux-image-$V"
hil_log "kernel ABI $V (linux-image-$V $img_ver)"
src_pkg=linux-source-6.1
# The source at the image's own version when the archive still has it; headers and
# source in one apt-get call so that neither drags the other to another version.
src_want=$src_pkg
if apt-cache madison "$src_pkg" | awk '{print $3}' | grep -qx "$img_ver"; then
  src_want="$src_pkg=$img_ver"
else
  hil_log "warning: $src_pkg $img_ver is not in the archive; using its candidate"
fi
if ! hil_pkg_installed "linux-headers-$V" || ! hil_pkg_installed "$src_pkg" ||
   { [ "$src_want" != "$src_pkg" ] && [ "$(dpkg-query -W -f='${Version}' "$src_pkg")" != "$img_ver" ]; }; then
  hil_apt_update
  hil_log "apt-get install linux-headers-$V $src_want"
  hil_apt_get install -y -q --no-install-recommends --allow-downgrades "linux-headers-$V" "$src_want"
fi
[ -d "/usr/src/linux-headers-$V" ] || hil_die "/usr/src/linux-headers-$V missing after install"
[ -f /usr/src/linux-source-6.1.tar.xz ] || hil_die "/usr/src/linux-source-6.1.tar.xz missing after install"

# 3. The kernel image .deb, unpacked (not installed).
kdir=$HIL_CACHE/kernel/$V
if [ ! -f "$kdir/.unpacked-$img_ver" ]; then
  debdir=$HIL_CACHE/debs; mkdir -p "$debdir"
  deb=$(ls "$debdir"/linux-image-"${V}"_"${img_ver//:/%3a}"_*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    hil_log "apt-get download linux-image-$V=$img_ver"
    (cd "$debdir" && apt-get download -q "linux-image-$V=$img_ver" >>"$HIL_CACHE/apt.log" 2>&1) || {
      hil_apt_update; (cd "$debdir" && apt-get download -q "linux-image-$V=$img_ver" >>"$HIL_CACHE/apt.log" 2>&1); }
    deb=$(ls "$debdir"/linux-image-"${V}"_*.deb | head -n1)
  fi
  hil_log "unpacking $(basename "$deb")"
  rm -rf "$kdir"; mkdir -p "$kdir"
  dpkg-deb -x "$deb" "$kdir"
  moddir=$kdir/lib/modules/$V
  # The .deb has no modules.dep (its postinst runs depmod): make it here.
  depmod -b "$kdir" "$V"
  # Compressed modules (newer Debian kernels): busybox insmod wants plain .ko.
  if find "$moddir" -name '*.ko.xz' -print -quit | grep -q .; then
    find "$moddir" -name '*.ko.xz' -exec xz -d {} +; sed -i 's/\.ko\.xz/.ko/g' "$moddir/modules.dep"
  fi
  if find "$moddir" -name '*.ko.zst' -print -quit | grep -q .; then
    command -v zstd >/dev/null || hil_apt_install zstd
    find "$moddir" -name '*.ko.zst' -exec zstd -q -d --rm {} +; sed -i 's/\.ko\.zst/.ko/g' "$moddir/modules.dep"
  fi
  [ -f "$moddir/modules.dep" ] || hil_die "depmod made no modules.dep in $moddir"
  touch "$kdir/.unpacked-$img_ver"
fi
kernel=$kdir/boot/vmlinuz-$V
moddir=$kdir/lib/modules/$V
[ -f "$kernel" ] || hil_die "no $kernel in the unpacked image"
[ -f "$moddir/modules.dep" ] || hil_die "no modules.dep in $moddir"

# 4. gpio-sim, out of tree: gpio-sim.c + gpiolib.h + irq_sim.c from Debian's source.
gdir=$HIL_CACHE/gpio-sim/$V
ko=$gdir/gpio-sim-oot.ko
src_ver=$(dpkg-query -W -f='${Version}' "$src_pkg")
if [ ! -f "$ko" ] || [ ! -f "$gdir/.built-$src_ver" ]; then
  hil_log "building gpio-sim-oot.ko from $src_pkg $src_ver"
  rm -rf "$gdir"; mkdir -p "$gdir/src"
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$gdir/src" --strip-components=1 \
    linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h \
    linux-source-6.1/kernel/irq/irq_sim.c
  cp "$gdir/src/drivers/gpio/gpio-sim.c" "$gdir/src/drivers/gpio/gpiolib.h" "$gdir/src/kernel/irq/irq_sim.c" "$gdir/"
  # irq_to_desc() is not exported to modules; generic_handle_irq() is.
  sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$gdir/irq_sim.c"
  grep -q 'generic_handle_irq(irqnum);' "$gdir/irq_sim.c" || hil_die "irq_sim.c: the expected line to patch is not there"
  printf 'obj-m := gpio-sim-oot.o\ngpio-sim-oot-objs := gpio-sim.o irq_sim.o\n' > "$gdir/Kbuild"
  make -s -C "/usr/src/linux-headers-$V" M="$gdir" modules >"$gdir/build.log" 2>&1 || {
    tail -n 30 "$gdir/build.log" >&2; hil_die "gpio-sim-oot.ko did not build (log: $gdir/build.log)"; }
  vm=$(modinfo -F vermagic "$ko" | awk '{print $1}')
  [ "$vm" = "$V" ] || hil_die "gpio-sim-oot.ko vermagic '$vm' is not '$V'"
  touch "$gdir/.built-$src_ver"
fi

# 5. Static guest helpers.
bindir=$HIL_CACHE/bin; mkdir -p "$bindir"
for c in "$HIL_DIR"/guest/*.c; do
  out=$bindir/$(basename "$c" .c)
  if [ ! -x "$out" ] || [ "$c" -nt "$out" ]; then
    libs=()
    grep -q '#include <gpiod.h>' "$c" && libs=(-lgpiod)   # gpioread: libgpiod-dev's static library
    hil_log "gcc -static $(basename "$c") ${libs[*]}"
    gcc -static -O2 -Wall -Wextra -o "$out" "$c" "${libs[@]}"
  fi
done

# Products of other kernel ABIs (the archive moved on) are dead weight: drop them.
for d in "$HIL_CACHE"/kernel/* "$HIL_CACHE"/gpio-sim/*; do
  [ -d "$d" ] && [ "$(basename "$d")" != "$V" ] && rm -rf "$d"
done
for f in "$HIL_CACHE"/debs/*.deb; do
  [ -f "$f" ] && [ "$f" != "$HIL_CACHE/debs/linux-image-${V}_${img_ver//:/%3a}_amd64.deb" ] && rm -f "$f"
done

cat > "$HIL_STATE.tmp" <<EOT
HIL_KVER=$V
HIL_KVER_PKG=$img_ver
HIL_KERNEL=$kernel
HIL_MODDIR=$moddir
HIL_GPIOSIM_KO=$ko
HIL_HELPERS=$bindir
EOT
mv "$HIL_STATE.tmp" "$HIL_STATE"
hil_log "prepared in $(hil_ms_since "$t_start") ms: kernel $V, $(basename "$ko"), helpers $(cd "$bindir" && echo *)"
