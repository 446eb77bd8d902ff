# shellcheck shell=bash
# The Debian 12 guest of the appliance scenarios (sourced by run.sh, after lib.sh and
# prepared.env). A real installed system, not an initramfs: systemd as PID 1, udevd,
# journald, D-Bus, on an ext4 virtio disk, booted with the same Debian kernel and
# gpio-sim-oot.ko as the busybox guest.
#
#   hil_debian_image   prints the base image (raw ext4), building it when absent
#   hil_debian_initrd  prints the boot initramfs (busybox: virtio + ext4, switch_root)
#
# The base image is cached in .build/hil/debian/ under a key of its recipe (this file,
# hil/debian/packages, hil/debian/rootfs/, the kernel ABI, gpio-sim-oot.ko): a change
# to any of them builds a new one (≈ 75 s here: debootstrap and apt-get from Debian's
# archive), and the old one is dropped. Scenarios never write to it: each boots a qcow2
# overlay of its own. The project's .deb is not in the image: scenarios install it
# with dpkg -i from their payload disk, as an installer would.

HIL_DEBIAN_DIR=$HIL_CACHE/debian
HIL_DEBIAN_SUITE=bookworm
HIL_DEBIAN_MIRROR=${HIL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Modules the boot initramfs loads to reach the root disk (the rest load from it).
HIL_DEBIAN_BOOT_MODULES=(virtio_pci virtio_blk crc32c_generic ext4)

hil_debian_packages() { sed 's/#.*//' "$HIL_DIR/debian/packages" | awk 'NF{print $1}'; }

hil_debian_key() {
  { cat "$HIL_DIR/debian/image.sh" "$HIL_DIR/debian/packages"
    (cd "$HIL_DIR/debian/rootfs" && find . -type f | LC_ALL=C sort | xargs sha256sum)
    echo "$HIL_KVER $HIL_KVER_PKG"; sha256sum < "$HIL_GPIOSIM_KO"; } | sha256sum | cut -c1-12
}

# _hil_debian_chroot ROOT CMD...: CMD in ROOT with /proc, /dev and /sys mounted (always unmounted after).
_hil_debian_chroot() {
  local root=$1 rc=0; shift
  mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev" && mount -t sysfs sysfs "$root/sys" || {
    umount "$root/sys" "$root/dev" "$root/proc" 2>/dev/null; return 1; }
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive HOME=/root \
    chroot "$root" "$@" || rc=$?
  umount "$root/sys"; umount "$root/dev"; umount "$root/proc"
  return $rc
}

hil_debian_image() {
  local key img root log t0 p
  key=$(hil_debian_key)
  img=$HIL_DEBIAN_DIR/base-$key.img
  if [ -f "$img" ]; then echo "$img"; return 0; fi
  mkdir -p "$HIL_DEBIAN_DIR"
  log=$HIL_DEBIAN_DIR/build-$key.log
  root=$HIL_DEBIAN_DIR/build.root
  t0=$(hil_now)
  if [ -d "$root" ]; then
    grep -q " $root/" /proc/mounts && { echo "$root has mounts left from an interrupted build: unmount them"; return 1; }
    rm -rf "$root"
  fi
  for p in debootstrap mkfs.ext4 qemu-img; do
    command -v "$p" >/dev/null || { echo "$p is missing: run bash hil/prepare.sh"; return 1; }
  done
  hil_log "building the Debian guest image $key (debootstrap $HIL_DEBIAN_SUITE; log: $log)"
  # The deployment tests' cached minbase root, when it is there, saves the debootstrap.
  local minbase=$HIL_REPO/.build/deb-root-cache/$HIL_DEBIAN_SUITE-minbase-$(dpkg --print-architecture).tar
  if [ -f "$minbase" ]; then
    mkdir -p "$root" && tar -C "$root" --numeric-owner -xpf "$minbase" >>"$log" 2>&1 ||
      { echo "extracting $minbase failed (log: $log)"; return 1; }
  else
    debootstrap --variant=minbase "$HIL_DEBIAN_SUITE" "$root" "$HIL_DEBIAN_MIRROR" >>"$log" 2>&1 ||
      { echo "debootstrap failed: $(tail -n 1 "$log") (log: $log)"; return 1; }
  fi
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # shellcheck disable=SC2046
  _hil_debian_chroot "$root" sh -c "apt-get update -q && apt-get install -y -q --no-install-recommends $(hil_debian_packages | tr '\n' ' ') && apt-get clean" >>"$log" 2>&1 ||
    { echo "apt-get install in the guest root failed: $(tail -n 1 "$log") (log: $log)"; return 1; }
  : > "$root/etc/resolv.conf"   # the guest has no network
  # The kernel's modules (udev loads them on hotplug, as on a box) and gpio-sim-oot.
  mkdir -p "$root/lib/modules/$HIL_KVER/extra"
  cp -a "$HIL_MODDIR/." "$root/lib/modules/$HIL_KVER/"
  rm -f "$root/lib/modules/$HIL_KVER/build" "$root/lib/modules/$HIL_KVER/source"
  cp "$HIL_GPIOSIM_KO" "$root/lib/modules/$HIL_KVER/extra/gpio-sim-oot.ko"
  depmod -b "$root" "$HIL_KVER" >>"$log" 2>&1 || { echo "depmod in the guest root failed (log: $log)"; return 1; }
  # The rig's files: the scenario runner unit, fstab, a fixed machine id, no gettys.
  cp -a "$HIL_DIR/debian/rootfs/." "$root/"
  cp /bin/busybox "$root/usr/local/bin/busybox"   # usleep for the shared guest helpers
  echo 8e6b3f0a5c2d4e1f9a7b6c5d4e3f2a1b > "$root/etc/machine-id"
  echo hil-debian > "$root/etc/hostname"
  _hil_debian_chroot "$root" sh -c 'passwd -d root >/dev/null &&
      systemctl enable hil-scenario.service &&
      systemctl mask serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
        e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-timesyncd.service 2>&1' >>"$log" 2>&1 ||
    { echo "configuring the guest root failed: $(tail -n 1 "$log") (log: $log)"; return 1; }
  _hil_debian_chroot "$root" dpkg-query -W -f='${Package} ${Version}\n' > "$HIL_DEBIAN_DIR/base-$key.manifest" 2>>"$log"
  local mb; mb=$(du -sm "$root" | cut -f1)
  rm -f "$img.tmp"
  truncate -s "$(( mb * 2 + 1024 ))M" "$img.tmp"
  mkfs.ext4 -q -F -L hilroot -d "$root" "$img.tmp" >>"$log" 2>&1 || { echo "mkfs.ext4 -d failed (log: $log)"; return 1; }
  mv "$img.tmp" "$img"
  rm -rf "$root"
  # Older images (another recipe) are dead weight.
  for p in "$HIL_DEBIAN_DIR"/base-*.img; do [ "$p" = "$img" ] || rm -f "$p" "${p%.img}.manifest"; done
  hil_log "Debian guest image $key: ${mb} MB of files, built in $(hil_ms_since "$t0") ms"
  echo "$img"
}

# hil_debian_initrd: a busybox initramfs that loads virtio and ext4, mounts /dev/vda
# and hands over to the root's /sbin/init (systemd). Cached beside the image.
hil_debian_initrd() {
  local out=$HIL_DEBIAN_DIR/boot-$HIL_KVER.initrd.gz r mods ko
  if [ -f "$out" ] && [ "$out" -nt "$HIL_DIR/debian/image.sh" ]; then echo "$out"; return 0; fi
  mkdir -p "$HIL_DEBIAN_DIR"
  r=$(mktemp -d "${TMPDIR:-/tmp}/hil-dinit.XXXXXX")
  mkdir -p "$r"/{bin,dev,proc,sys,newroot,lib/modules}
  cp /bin/busybox "$r/bin/busybox"
  mods=$(hil_module_paths "$HIL_MODDIR" "${HIL_DEBIAN_BOOT_MODULES[@]}") || { rm -rf "$r"; echo "modules.dep unreadable"; return 1; }
  if grep -q '^MISSING ' <<<"$mods"; then rm -rf "$r"; echo "kernel $HIL_KVER has no module $(grep '^MISSING ' <<<"$mods" | cut -d' ' -f2)"; return 1; fi
  : > "$r/modules"
  while read -r ko; do cp "$HIL_MODDIR/$ko" "$r/lib/modules/"; basename "$ko" >> "$r/modules"; done <<<"$mods"
  cat > "$r/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
while read -r ko; do insmod "/lib/modules/$ko" 2>/dev/null; done < /modules
i=0; while [ ! -b /dev/vda ] && [ $i -lt 500 ]; do usleep 10000; i=$((i + 1)); done
# No fsck here: after a power cut the kernel replays ext4's journal at mount.
mount -t ext4 -o rw /dev/vda /newroot || { echo "@@HIL-FAIL initramfs: cannot mount /dev/vda"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
EOF
  chmod 755 "$r/init"
  (cd "$r" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp" && mv "$out.tmp" "$out"
  rm -rf "$r"
  echo "$out"
}

# hil_debian_debs DIR: the project's .deb built from the binaries in DIR (the
# directory of HIL_GATEWAY_BIN), and the same package at a higher version (for the
# upgrade scenario), into $HIL_CACHE/deb/; reused while the binaries are unchanged.
# Prints "DEB UPGRADE_DEB".
hil_debian_debs() {
  local bin=$1 out=$HIL_CACHE/deb stamp deb up v
  stamp=$(stat -c '%n %s %Y' "$bin"/panic-gateway "$bin"/panicctl "$bin"/panic-receiver 2>/dev/null | sha256sum | cut -c1-12)
  if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/debs" ]; then cat "$out/debs"; return 0; fi
  rm -rf "$out"; mkdir -p "$out/pkg"
  deb=$(bash "$HIL_REPO/scripts/build-deb.sh" --bin-dir "$bin" --out "$out/pkg" --compress none 2>"$out/build-deb.log" | tail -n 1) ||
    { echo "build-deb.sh failed: $(tail -n 1 "$out/build-deb.log")"; return 1; }
  [ -f "$deb" ] || { echo "build-deb.sh printed no .deb: $(tail -n 1 "$out/build-deb.log")"; return 1; }
  v=$(dpkg-deb -f "$deb" Version)
  # The upgrade: the same files, version +hil1 (sorts above), rebuilt with dpkg-deb.
  rm -rf "$out/up"; dpkg-deb -R "$deb" "$out/up" || { echo "dpkg-deb -R failed"; return 1; }
  sed -i "s/^Version: .*/Version: $v+hil1/" "$out/up/DEBIAN/control"
  up=$out/pkg/panic-gateway_${v}+hil1_$(dpkg --print-architecture).deb
  dpkg-deb -Znone -b "$out/up" "$up" >/dev/null || { echo "dpkg-deb -b of the upgrade failed"; return 1; }
  rm -rf "$out/up"
  echo "$deb $up" > "$out/debs"; echo "$stamp" > "$out/stamp"
  echo "$deb $up"
}
