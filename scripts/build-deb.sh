#!/usr/bin/env bash
# Builds the panic-gateway Debian package from binaries already built:
#
#   scripts/build-deb.sh [--bin-dir .build/release] [--out .build/deb] [--version V]
#                        [--compress xz|gzip|none] [--no-strip]
#
# Contents: /usr/bin/{panic-gateway,panicctl,panic-receiver} (stripped, RUNPATH
# $ORIGIN/../lib/panic-gateway), the Swift runtime libraries they load bundled
# in /usr/lib/panic-gateway (the box needs no Swift toolchain), the systemd
# units, sysusers.d and tmpfiles.d entries, the udev rules, the example
# configurations in /etc, man pages rendered from the commands' own help, and
# the maintainer scripts in deploy/debian/. Depends: is computed by
# dpkg-shlibdeps. Prints the path of the .deb on its last line.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=$top/.build/release
out_dir=$top/.build/deb
version=""
compress=xz
strip_binaries=1

while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=$(cd "$2" && pwd); shift 2 ;;
    --out) mkdir -p "$2"; out_dir=$(cd "$2" && pwd); shift 2 ;;
    --version) version=$2; shift 2 ;;
    --compress) compress=$2; shift 2 ;;
    --no-strip) strip_binaries=0; shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-deb: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "build-deb: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg-shlibdeps patchelf strip python3 gzip ldd; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install dpkg-dev patchelf binutils python3"
done
programs=(panic-gateway panicctl panic-receiver)
for p in "${programs[@]}"; do
  [ -x "$bin_dir/$p" ] || die "$bin_dir/$p is missing: run 'swift build -c release' (or pass --bin-dir .build/debug)"
done

newer=$(find "$top/Sources" "$top/Package.swift" -newer "$bin_dir/panic-gateway" -type f -print -quit 2>/dev/null || true)
[ -z "$newer" ] || echo "build-deb: warning: $bin_dir/panic-gateway is older than $newer; the package may not match the source" >&2

if [ -z "$version" ]; then
  # 0.1.0~gitYYYYMMDD.HHMMSS.<commit>: sorts by commit time, says which commit.
  if git -C "$top" rev-parse --verify -q HEAD >/dev/null; then
    stamp=$(git -C "$top" log -1 --format=%cd --date=format-local:%Y%m%d.%H%M%S)
    version="0.1.0~git$stamp.$(git -C "$top" rev-parse --short=10 HEAD)"
    git -C "$top" diff --quiet HEAD -- Sources Package.swift deploy udev 2>/dev/null || version="$version.dirty"
  else
    version="0.1.0"
  fi
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}
arch=$(dpkg --print-architecture)
pkg=panic-gateway
libdir=usr/lib/panic-gateway

work=$(mktemp -d "${TMPDIR:-/tmp}/build-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
umask 022
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/$libdir" "$root/lib/systemd/system" \
  "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" "$root/lib/udev/rules.d" \
  "$root/etc/panic-gateway" "$root/etc/panic-receiver" "$root/usr/share/doc/$pkg/examples" \
  "$root/usr/share/man/man1" "$root/usr/share/man/man8"

strip_elf() { # as dh_strip does: executables keep .symtab-less code, libraries lose unneeded symbols
  [ "$strip_binaries" = 1 ] || return 0
  if [ "$1" = lib ]; then strip --remove-section=.comment --remove-section=.note --strip-unneeded "$2"
  else strip --remove-section=.comment --remove-section=.note "$2"; fi
}

# 1. Programs and the Swift runtime they load. Every library ldd resolves
#    outside the system's own directories comes from the toolchain: bundle it.
declare -A bundled=()
for p in "${programs[@]}"; do
  install -m 0755 "$bin_dir/$p" "$root/usr/bin/$p"
  while read -r name path; do
    case "$path" in
      /lib/* | /usr/lib/* | /lib64/*) ;;                          # Debian's: a dependency
      /*) bundled[$name]=$path ;;                                   # the toolchain's: bundle
      *) die "$p: library $name not found (ldd: $path)" ;;
    esac
  done < <(ldd "$bin_dir/$p" | awk '/=>/ { print $1, $3 }')
done
[ ${#bundled[@]} -gt 0 ] || die "no Swift runtime library found in ldd output; statically linked binaries need no bundling but then say so"
for name in "${!bundled[@]}"; do
  install -m 0644 "${bundled[$name]}" "$root/$libdir/$name"
  strip_elf lib "$root/$libdir/$name"
  patchelf --set-rpath '$ORIGIN' "$root/$libdir/$name"
done
for p in "${programs[@]}"; do
  strip_elf exe "$root/usr/bin/$p"
  patchelf --set-rpath '$ORIGIN/../lib/panic-gateway' "$root/usr/bin/$p"
done
# Every bundled name must now resolve inside the package tree.
for f in "$root"/usr/bin/* "$root/$libdir"/*; do
  while read -r name path; do
    case "$path" in
      /lib/* | /usr/lib/* | /lib64/*) ;;
      not) die "$f: $name not found" ;;
      *) [[ $(realpath -m "$path") == "$root/$libdir/"* ]] || die "$f: $name resolves outside the package ($path)" ;;
    esac
  done < <(env -u LD_LIBRARY_PATH ldd "$f" | awk '/=>/ { print $1, $3 }')
done

# 2. Units, users, directories, udev rules, configuration.
install -m 0644 "$top"/deploy/systemd/*.service "$root/lib/systemd/system/"
install -m 0644 "$top"/deploy/sysusers.d/*.conf "$root/usr/lib/sysusers.d/"
install -m 0644 "$top"/deploy/tmpfiles.d/*.conf "$root/usr/lib/tmpfiles.d/"
install -m 0644 "$top"/udev/*.rules "$root/lib/udev/rules.d/"
install -m 0644 "$top/deploy/gateway.toml.example" "$root/etc/panic-gateway/gateway.toml"
install -m 0644 "$top/deploy/receiver.toml.example" "$root/etc/panic-receiver/receiver.toml.example"
install -m 0644 "$top/deploy/gateway.toml.example" "$top/deploy/receiver.toml.example" "$root/usr/share/doc/$pkg/examples/"
install -m 0644 "$top"/deploy/examples/*.toml "$root/usr/share/doc/$pkg/examples/"

# 3. Documentation and man pages (from the commands' own --help structure).
install -m 0644 "$top/README.md" "$root/usr/share/doc/$pkg/README.md"
[ -f "$top/docs/DEPLOYMENT.md" ] && install -m 0644 "$top/docs/DEPLOYMENT.md" "$root/usr/share/doc/$pkg/DEPLOYMENT.md"
install -m 0644 "$top/docs/INSTALL.md" "$top/docs/CONFIGURATION.md" "$root/usr/share/doc/$pkg/"
install -m 0644 "$top/deploy/debian/copyright" "$root/usr/share/doc/$pkg/copyright"
changes_date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
printf '%s (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- panic-gateway maintainers <panic-gateway@localhost>  %s\n' \
  "$pkg" "$version" "$(git -C "$top" rev-parse HEAD 2>/dev/null || echo 'an unversioned tree')" "$changes_date" |
  gzip -9n > "$root/usr/share/doc/$pkg/changelog.Debian.gz"
declare -A section=([panic-gateway]=8 [panic-receiver]=8 [panicctl]=1)
for p in "${programs[@]}"; do
  s=${section[$p]}
  "$root/usr/bin/$p" --experimental-dump-help |
    python3 "$top/scripts/manpage.py" --section "$s" --version "$version" |
    gzip -9n > "$root/usr/share/man/man$s/$p.$s.gz"
done

# 4. Control files. Depends: what the ELF files need (dpkg-shlibdeps; the
#    bundled libraries count as part of this package), and systemd for
#    sysusers/tmpfiles and the units.
install -m 0755 "$top"/deploy/debian/{postinst,prerm,postrm} "$root/DEBIAN/"
printf '/etc/panic-gateway/gateway.toml\n/etc/panic-receiver/receiver.toml.example\n' > "$root/DEBIAN/conffiles"
mkdir -p "$work/shlibs/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" > "$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O -l"$root/$libdir" "$root"/usr/bin/* "$root/$libdir"/*.so 2>"$work/shlibdeps.err") ||
  { cat "$work/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
grep -v "no dependency information found\|binaries linked against\|can't extract name and version\|could avoid a useless dependency" "$work/shlibdeps.err" >&2 || true
depends=${shlibs#shlibs:Depends=}
[ -n "$depends" ] || die "dpkg-shlibdeps computed no dependency"
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: panic-gateway maintainers <panic-gateway@localhost>
Installed-Size: $installed_size
Depends: $depends, systemd (>= 252), procps
Recommends: udev, openssl
Section: admin
Priority: optional
Description: panic button gateway: durable, signed alert delivery
 panic-gateway reads panic, duress and tamper buttons (GPIO, serial,
 simulated), debounces them, keeps every alert in a SQLite outbox and
 delivers it to one or more central receivers as RFC 9421 signed HTTPS
 requests, through outages and restarts.
 .
 Also contains panicctl, the technician's tool, and panic-receiver, the
 reference central receiver (its unit is installed but not enabled).
 The Swift runtime is bundled in /usr/lib/panic-gateway.
CONTROL
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's| \./| |') > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

# 5. The package: every file root:root (--root-owner-group), reproducible times.
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
case "$compress" in
  xz) zopt=(-Zxz) ;;
  gzip) zopt=(-Zgzip -z6) ;;
  none) zopt=(-Znone) ;;
  *) die "--compress must be xz, gzip or none" ;;
esac
mkdir -p "$out_dir"
deb=$out_dir/${pkg}_${version}_${arch}.deb
dpkg-deb --root-owner-group "${zopt[@]}" --build "$root" "$deb" >/dev/null
echo "build-deb: $(du -h "$deb" | cut -f1) $(basename "$deb"), Depends: $depends, systemd (>= 252), procps" >&2
echo "$deb"
