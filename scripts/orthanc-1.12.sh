#!/usr/bin/env bash
# Orthanc 1.12 for the tests on a Debian 12 machine: builds once per machine a Debian 13 (trixie)
# root holding Debian 13's orthanc, orthanc-postgresql and orthanc-dicomweb packages, and writes a
# wrapper that runs that root's Orthanc with the root's own loader and libraries.
#
#   bash scripts/orthanc-1.12.sh          builds (or reuses) the root, prints the wrapper's path
#
# The root lives outside the git tree, in $KV_ORTHANC112_ROOT (default
# /var/cache/kidney-volumes/debian13-orthanc), and is reused across runs: it is complete only once
# the marker file .kv-complete exists, written as the last step; a root without it (an interrupted
# build) is removed and built again. Nothing is chrooted and nothing runs as root inside it: the
# wrapper only borrows its files.
set -euo pipefail

root=${KV_ORTHANC112_ROOT:-/var/cache/kidney-volumes/debian13-orthanc}
mirror=${KV_DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=orthanc,orthanc-postgresql,orthanc-dicomweb
marker="$root/.kv-complete"
wrapper="$root/orthanc-wrapper"

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$packages" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "orthanc-1.12: installing debootstrap" >&2
    "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=900 update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  # Another run may be building the same root: one build at a time, the second one then reuses it.
  "${sudo_cmd[@]}" mkdir -p "$(dirname "$root")"
  exec 9>"$root.lock"
  flock 9
  if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$packages" ]; then
    echo "orthanc-1.12: building the Debian 13 root in $root (about a minute, 430 MB)" >&2
    "${sudo_cmd[@]}" rm -rf "$root"
    # debootstrap needs root (it creates device nodes and runs dpkg inside the root).
    "${sudo_cmd[@]}" debootstrap --variant=minbase --include="$packages" trixie "$root" "$mirror" >"$root.log" 2>&1 || {
      echo "orthanc-1.12: debootstrap failed; the end of $root.log:" >&2
      tail -20 "$root.log" >&2
      exit 1
    }
    for file in lib64/ld-linux-x86-64.so.2 usr/sbin/Orthanc usr/share/dcmtk/dicom.dic \
      usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so usr/share/orthanc/plugins/libOrthancDicomWeb.so; do
      [ -e "$root/$file" ] || { echo "orthanc-1.12: $root/$file is missing after debootstrap" >&2; exit 1; }
    done
    echo "$packages" | "${sudo_cmd[@]}" tee "$marker" >/dev/null
  fi
  flock -u 9
fi

# The wrapper: the root's loader with the root's library folders only (no library from this machine
# is mixed in), and the root's DICOM dictionary. Rewritten every run so that it always matches this
# script. Started this way the loader ignores LD_LIBRARY_PATH, so the wrapper puts its folders in
# front of the root's: that is how the https tests hand Orthanc their OpenSSL shim (test/helpers/pki.ts).
tmp=$(mktemp)
cat >"$tmp" <<WRAPPER
#!/bin/sh
# Debian 13's Orthanc, run from the root $root with that root's loader and
# libraries (made by scripts/orthanc-1.12.sh). LD_LIBRARY_PATH is searched before the root's folders.
lib="$root/lib/x86_64-linux-gnu:$root/usr/lib/x86_64-linux-gnu"
[ -n "\${LD_LIBRARY_PATH:-}" ] && lib="\$LD_LIBRARY_PATH:\$lib"
DCMDICTPATH="$root/usr/share/dcmtk/dicom.dic" exec "$root/lib64/ld-linux-x86-64.so.2" --library-path "\$lib" "$root/usr/sbin/Orthanc" "\$@"
WRAPPER
chmod 755 "$tmp"
"${sudo_cmd[@]}" mv "$tmp" "$wrapper"
echo "$wrapper"
