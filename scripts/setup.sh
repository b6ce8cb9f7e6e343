#!/usr/bin/env bash
# Installs what running kidney-volumes needs on Debian or Ubuntu with Node.js 20: Orthanc (the
# local Orthanc of scripts/start.sh) when missing, the npm dependencies exactly as locked, and the
# build. What only the tests need (validators, a JRE, PostgreSQL, docker-compose, a C compiler...)
# is scripts/setup-tests.sh, which .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed, found $(node --version)" >&2
  exit 1
fi

missing=()
[ -x /usr/sbin/Orthanc ] || missing+=(orthanc)
# better-sqlite3 (the dashboard's study index) compiles itself with node-gyp when its prebuilt
# binary cannot be downloaded, which is always the case on a network that reaches only npm.
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  bash scripts/apt-install.sh "${missing[@]}"
fi

# npm ci reinstalls everything; skip it when node_modules was installed from this very lock file.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.kv-lock-sha256 2>/dev/null)" != "$lock_sum" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > node_modules/.kv-lock-sha256
fi
bash scripts/build-if-changed.sh
echo "setup: done"
