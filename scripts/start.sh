#!/usr/bin/env bash
# Sets everything up and runs kidney-volumes against Orthanc. With no ORTHANC_URL, it starts a
# local Orthanc from the Debian package with orthanc/orthanc.json and the storage folder
# .orthanc-data/ (with the Lua wake-up script), and stops it on exit. Arguments go to the
# kidney-volumes CLI; with none it runs the sidecar (HTTP API on KV_HTTP_PORT, default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

orthanc_pid=""
stop_orthanc() { [ -n "$orthanc_pid" ] && kill "$orthanc_pid" 2>/dev/null && wait "$orthanc_pid" 2>/dev/null; true; }
trap stop_orthanc EXIT

if [ -z "${ORTHANC_URL:-}" ]; then
  data="$PWD/.orthanc-data"
  mkdir -p "$data/db"
  node -e '
    const fs = require("fs");
    const config = JSON.parse(fs.readFileSync("orthanc/orthanc.json", "utf8"));
    config.StorageDirectory = config.IndexDirectory = process.argv[1] + "/db";
    config.RemoteAccessAllowed = false;
    config.LuaScripts = [require("path").resolve("orthanc/kidney-volumes.lua")];
    fs.writeFileSync(process.argv[1] + "/orthanc.json", JSON.stringify(config, null, 2));
    const [user, password] = Object.entries(config.RegisteredUsers)[0];
    fs.writeFileSync(process.argv[1] + "/credentials", user + "\n" + password + "\n");
  ' "$data"
  if (exec 3<>/dev/tcp/127.0.0.1/8042) 2>/dev/null; then
    echo "start: port 8042 is taken; stop what listens there or set ORTHANC_URL to use that Orthanc" >&2
    exit 1
  fi
  KV_SIDECAR_URL="http://127.0.0.1:${KV_HTTP_PORT:-8080}" /usr/sbin/Orthanc "$data/orthanc.json" >>"$data/orthanc.log" 2>&1 &
  orthanc_pid=$!
  export ORTHANC_URL=http://127.0.0.1:8042
  ORTHANC_USERNAME=$(sed -n 1p "$data/credentials")
  ORTHANC_PASSWORD=$(sed -n 2p "$data/credentials")
  export ORTHANC_USERNAME ORTHANC_PASSWORD
  for _ in $(seq 1 100); do
    node -e 'fetch(process.env.ORTHANC_URL + "/system", { headers: { authorization: "Basic " + Buffer.from(process.env.ORTHANC_USERNAME + ":" + process.env.ORTHANC_PASSWORD).toString("base64") } }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' && break
    kill -0 "$orthanc_pid" 2>/dev/null || { echo "start: Orthanc exited; see $data/orthanc.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "start: local Orthanc at $ORTHANC_URL (user $ORTHANC_USERNAME), storage $data/db, log $data/orthanc.log"
fi

# The sidecar refuses a KV_STATE_DIR that does not exist (it never creates folders silently): this
# script makes its default one, here, on purpose.
if [ -z "${KV_STATE_DIR:-}" ]; then mkdir -p .state; fi
if [ -z "${KV_API_TOKEN:-}" ]; then
  [ -f .state/api-token ] || { mkdir -p .state && node -e 'process.stdout.write(require("crypto").randomBytes(18).toString("base64url"))' > .state/api-token; }
  KV_API_TOKEN=$(cat .state/api-token)
  export KV_API_TOKEN
fi
if [ $# -eq 0 ]; then
  echo "start: sidecar HTTP API on http://127.0.0.1:${KV_HTTP_PORT:-8080} (write token in .state/api-token); Ctrl-C stops both"
  set -- sidecar
fi
node dist/cli/main.js "$@"
