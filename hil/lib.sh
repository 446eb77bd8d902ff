# shellcheck shell=bash
# Shared functions of the hardware-in-the-loop rig (sourced by prepare.sh and run.sh).
# Nothing here downloads anything but Debian packages through apt-get.

HIL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HIL_REPO=$(cd "$HIL_DIR/.." && pwd)
HIL_CACHE=${HIL_CACHE:-$HIL_REPO/.build/hil}
HIL_STATE=$HIL_CACHE/prepared.env          # written by prepare.sh, read by run.sh

hil_log()  { printf '[hil %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
hil_die()  { printf '[hil] error: %s\n' "$*" >&2; exit 1; }
hil_now()  { date +%s.%N; }                 # wall clock, for durations only
hil_ms_since() { awk -v a="$1" -v b="$(hil_now)" 'BEGIN{printf "%d", (b-a)*1000}'; }

# --- Debian packages ---------------------------------------------------------

hil_as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else hil_die "need root (or sudo) for: $*"; fi
}

HIL_APT_UPDATED=0
hil_apt_update() {
  [ "$HIL_APT_UPDATED" = 1 ] && return 0
  hil_log "apt-get update"
  hil_apt_get update -q
  HIL_APT_UPDATED=1
}

# hil_apt_get ARGS...: apt-get as root, non-interactive; output to .build/hil/apt.log.
hil_apt_get() {
  mkdir -p "$HIL_CACHE"
  if ! hil_as_root env DEBIAN_FRONTEND=noninteractive apt-get "$@" >>"$HIL_CACHE/apt.log" 2>&1; then
    tail -n 15 "$HIL_CACHE/apt.log" >&2
    hil_die "apt-get $* failed (log: $HIL_CACHE/apt.log)"
  fi
}

hil_pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# hil_apt_install PKG[=VERSION]... : installs what is missing (apt-get update first).
hil_apt_install() {
  local p missing=()
  for p in "$@"; do hil_pkg_installed "${p%%=*}" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  hil_apt_update
  hil_log "apt-get install ${missing[*]}"
  hil_apt_get install -y -q --no-install-recommends "${missing[@]}"
}

# The kernel ABI the rig boots: $HIL_KVER, or what linux-image-amd64 depends on.
hil_kernel_abi() {
  if [ -n "${HIL_KVER:-}" ]; then echo "$HIL_KVER"; return; fi
  local v
  v=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n1)
  if [ -z "$v" ]; then
    hil_apt_update
    v=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n1)
  fi
  [ -n "$v" ] || hil_die "apt-cache cannot tell the ABI of linux-image-amd64"
  echo "$v"
}

# --- files into the initramfs -------------------------------------------------

# hil_copy_with_libs ROOT HOSTPATH [GUESTDIR]: copies a host executable and every
# shared library ldd names; the dynamic loader goes to /lib64 too.
hil_copy_with_libs() {
  local root=$1 src=$2 dir=${3:-/usr/bin} lib
  [ -x "$src" ] || { echo "not an executable: $src"; return 1; }
  mkdir -p "$root$dir"
  cp -L "$src" "$root$dir/"
  # "libX.so => /path (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)"; static: "not a dynamic executable"
  while read -r lib; do
    [ -n "$lib" ] || continue
    mkdir -p "$root$(dirname "$lib")"
    cp -Ln "$lib" "$root$lib" 2>/dev/null || true
    case "$lib" in */ld-linux*) mkdir -p "$root/lib64"; cp -Ln "$lib" "$root/lib64/$(basename "$lib")" 2>/dev/null || true;; esac
  done < <(ldd "$src" 2>/dev/null | awk '/=> \//{print $3} /^[ \t]*\//{print $1}')
  if ldd "$src" 2>/dev/null | grep -q 'not found'; then
    echo "missing shared libraries for $src: $(ldd "$src" | grep 'not found' | tr -s ' \t' ' ')"; return 1
  fi
}

# hil_module_paths MODDIR NAME...: prints the .ko paths (relative to MODDIR) of
# NAME and its dependencies, dependencies first, each once (modules.dep).
hil_module_paths() {
  local moddir=$1; shift
  awk -v want="$*" '
    function norm(s) { gsub(/-/, "_", s); return s }
    function base(p,  b) { b = p; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); return norm(b) }
    function visit(n,  i, k, d) {
      if (n in seen) return
      seen[n] = 1
      if (!(n in path)) { print "MISSING " n; return }
      k = split(deps[n], d, " ")
      for (i = k; i >= 1; i--) visit(base(d[i]))
      print path[n]
    }
    { f = $1; sub(/:$/, "", f); n = base(f); path[n] = f; $1 = ""; deps[n] = $0 }
    END { k = split(want, w, " "); for (i = 1; i <= k; i++) visit(norm(w[i])) }
  ' "$moddir/modules.dep"
}

# --- QEMU -------------------------------------------------------------------

# Prints "kvm" or "tcg". HIL_ACCEL=kvm|tcg forces; "auto" (default) boots a
# probe guest under KVM once with a short timeout and caches the verdict per
# host kernel and QEMU version (KVM hung on the machines the notes were written on).
hil_pick_accel() {
  local want=${HIL_ACCEL:-auto}
  case "$want" in kvm|tcg) echo "$want"; return;; esac
  if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then echo tcg; return; fi
  local key verdict_file
  key="$(uname -r)|$(qemu-system-x86_64 --version | head -n1)|$HIL_KVER"
  verdict_file=$HIL_CACHE/accel-probe
  if [ -f "$verdict_file" ] && [ "$(head -n1 "$verdict_file")" = "$key" ]; then
    sed -n 2p "$verdict_file"; return
  fi
  local pdir; pdir=$(mktemp -d "${TMPDIR:-/tmp}/hil-probe.XXXXXX")
  mkdir -p "$pdir/root/bin"
  cp /bin/busybox "$pdir/root/bin/busybox"
  printf '#!/bin/busybox sh\n/bin/busybox echo HIL-KVM-PROBE-OK\n/bin/busybox poweroff -f\n' > "$pdir/root/init"
  chmod +x "$pdir/root/init"
  (cd "$pdir/root" && find . | cpio -o -H newc --quiet | gzip -1) > "$pdir/probe.gz"
  local verdict=tcg
  timeout --kill-after=2 "${HIL_KVM_PROBE_TIMEOUT:-20}" qemu-system-x86_64 -enable-kvm -cpu host -m 256 \
    -nodefaults -no-user-config -display none -no-reboot -nic none \
    -chardev "file,id=con,path=$pdir/console.log" -serial chardev:con \
    -kernel "$HIL_KERNEL" -initrd "$pdir/probe.gz" -append "console=ttyS0 panic=-1 loglevel=3" \
    >"$pdir/qemu.out" 2>&1 || true
  grep -q HIL-KVM-PROBE-OK "$pdir/console.log" 2>/dev/null && verdict=kvm
  hil_log "KVM probe: $verdict"
  mkdir -p "$HIL_CACHE"; printf '%s\n%s\n' "$key" "$verdict" > "$verdict_file"
  rm -rf "$pdir"
  echo "$verdict"
}

# --- the project's own binaries ------------------------------------------------

# hil_stage_bin SRC DIR: copies the executable SRC into DIR and strips the copy
# (--strip-debug, and the debugger-only .swift_ast section: a debug build is
# ~150 MB, the copy ~45 MB). SRC may be rebuilt while we copy: the copy is taken
# only when SRC's size and mtime are the same before and after it and SRC is at
# least 2 s old; up to 10 tries, 2 s apart. The copy must run `--help`.
# Prints the copy's path; on failure prints the reason and returns 1.
hil_stage_bin() {
  local src=$1 dir=$2 dst i a b
  dst=$dir/$(basename "$src")
  [ -e "$src" ] || { echo "$src does not exist (build it first, or point HIL_GATEWAY_BIN/HIL_RECEIVER_BIN at one)"; return 1; }
  [ -x "$src" ] || { echo "$src is not executable"; return 1; }
  mkdir -p "$dir"
  for i in 1 2 3 4 5 6 7 8 9 10; do
    a=$(stat -c '%s %Y' "$src" 2>/dev/null)
    if [ -n "$a" ] && [ $(( $(date +%s) - ${a#* } )) -ge 2 ] && cp "$src" "$dst.tmp" 2>/dev/null; then
      b=$(stat -c '%s %Y' "$src" 2>/dev/null)
      if [ "$a" = "$b" ] && [ "$(stat -c %s "$dst.tmp")" = "${a% *}" ]; then
        mv "$dst.tmp" "$dst"; break
      fi
    fi
    rm -f "$dst.tmp"
    [ "$i" = 10 ] && { echo "$src kept changing (being rebuilt?) for 20 s; no stable copy"; return 1; }
    sleep 2
  done
  if ! strip --strip-debug -R .swift_ast "$dst" 2>/dev/null; then
    strip --strip-debug "$dst" || { echo "strip $dst failed"; return 1; }
  fi
  "$dst" --help >/dev/null 2>&1 || { echo "the copy of $src does not run (--help failed)"; return 1; }
  echo "$dst"
}
