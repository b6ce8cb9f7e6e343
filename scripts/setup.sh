#!/usr/bin/env bash
# Installs what kidney-volumes needs on Debian or Ubuntu with Node.js 20: the Debian packages that
# are missing (Orthanc, dcmtk, dicom3tools, PixelMed with a JRE, docker-compose for the compose
# check, PostgreSQL with orthanc-postgresql for the replica tests), the npm dependencies exactly
# as locked, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/Orthanc ] || missing+=(orthanc)
command -v dsrdump >/dev/null 2>&1 || missing+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
[ -f /usr/share/java/pixelmed.jar ] || missing+=(pixelmed-apps)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# The https tests: openssl makes the certificates; Debian's Orthanc (civetweb) dlopens the unversioned
# libssl.so / libcrypto.so from libssl-dev; gcc builds the shim test/helpers/pki.ts explains.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
# better-sqlite3 (the dashboard's study index) compiles itself with node-gyp when its prebuilt
# binary cannot be downloaded, which is always the case on a network that reaches only npm.
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# Several Orthancs on one PostgreSQL index (test/scale): the server and Orthanc's index plugin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ -f /usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so ] || missing+=(orthanc-postgresql)
# The DICOMweb delivery tests: a second Orthanc with the DICOMweb plugin receives the STOW-RS.
[ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || missing+=(orthanc-dicomweb)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's orthanc package may start its own service on port 8042; we run our own instances.
  if command -v service >/dev/null 2>&1; then "${sudo_cmd[@]}" service orthanc stop >/dev/null 2>&1 || true; fi
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed, found $(node --version)" >&2
  exit 1
fi

# npm ci reinstalls everything; skip it when node_modules was installed from this very lock file.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.kv-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.kv-lock-sha256
fi
npm run build --silent
echo "setup: done"
