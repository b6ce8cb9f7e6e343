#!/usr/bin/env bash
# Installs the Debian packages given as arguments (with sudo when not root), quietly, waiting for
# another apt run to finish rather than failing on its lock.
set -euo pipefail
[ $# -gt 0 ] || exit 0
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=900 update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "$@" >/dev/null
# Debian's orthanc package may start its own service on port 8042; we run our own instances.
if [[ " $* " == *" orthanc "* ]] && command -v service >/dev/null 2>&1; then "${sudo_cmd[@]}" service orthanc stop >/dev/null 2>&1 || true; fi
