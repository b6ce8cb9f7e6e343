#!/usr/bin/env bash
# Sets up what running needs (scripts/setup.sh) and runs kidney-volumes against Orthanc.
#
# With no ORTHANC_URL it uses a local Orthanc from the Debian package, configured from
# orthanc/orthanc.json with its storage in .orthanc-data/ (KV_ORTHANC_DATA) and the Lua wake-up:
#   - the sidecar (no arguments, or "sidecar"): checks that Orthanc's port (KV_ORTHANC_PORT,
#     default 8042) and the API's port (KV_HTTP_PORT, default 8080) are free, starts Orthanc, runs
#     the sidecar, and on Ctrl-C stops the sidecar first (it finishes or hands back the study in
#     hand) and only then Orthanc;
#   - any other command (verify, menu, attach...): reuses the local Orthanc that a running start.sh
#     started, with its credentials, or starts one for the command and stops it afterwards.
# KV_SKIP_SETUP=1 skips scripts/setup.sh (for tests and CI that have just run it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${KV_SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh

# The configuration exit code of the CLI (src/errors.ts EXIT_CODES.config), so scripts see one meaning.
EXIT_CONFIG=3
say() { echo "start: $*" >&2; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

orthanc_port=${KV_ORTHANC_PORT:-8042}
dicom_port=${KV_ORTHANC_DICOM_PORT:-4242}
http_port=${KV_HTTP_PORT:-8080}
data=$(mkdir -p "${KV_ORTHANC_DATA:-.orthanc-data}" && cd "${KV_ORTHANC_DATA:-.orthanc-data}" && pwd)
state_dir=${KV_STATE_DIR:-.state}
run_sidecar=false
if [ $# -eq 0 ] || [ "$1" = sidecar ]; then run_sidecar=true; fi
[ $# -gt 0 ] || set -- sidecar

# The sidecar refuses a KV_STATE_DIR that does not exist (it never creates folders silently): this
# script makes its default one, here, on purpose; one given in KV_STATE_DIR must exist.
if [ -z "${KV_STATE_DIR:-}" ]; then mkdir -p .state; fi
if [ ! -d "$state_dir" ]; then
  say "KV_STATE_DIR $state_dir does not exist: create it, or unset KV_STATE_DIR to use ./.state"
  exit $EXIT_CONFIG
fi

# Secrets of this machine's set-up, made once and kept in the state folder (never in the repository).
secret_file() {
  [ -s "$state_dir/$1" ] || (umask 077 && node -e 'process.stdout.write(require("crypto").randomBytes(18).toString("base64url"))' > "$state_dir/$1")
  cat "$state_dir/$1"
}
export KV_API_TOKEN=${KV_API_TOKEN:-$(secret_file api-token)}
export KV_HOOK_TOKEN=${KV_HOOK_TOKEN:-$(secret_file hook-token)}

use_local_credentials() {
  export ORTHANC_URL="http://127.0.0.1:$orthanc_port"
  ORTHANC_USERNAME=$(sed -n 1p "$data/credentials")
  ORTHANC_PASSWORD=$(sed -n 2p "$data/credentials")
  export ORTHANC_USERNAME ORTHANC_PASSWORD
}

orthanc_answers() {
  node -e 'fetch(process.env.ORTHANC_URL + "/system", { headers: { authorization: "Basic " + Buffer.from(process.env.ORTHANC_USERNAME + ":" + process.env.ORTHANC_PASSWORD).toString("base64") } }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'
}

# The Orthanc a running start.sh started: its pid file names a live process and it answers with our credentials.
local_orthanc_running() {
  local pid
  pid=$(cat "$data/orthanc.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ -f "$data/credentials" ] || return 1
  (use_local_credentials && orthanc_answers)
}

if [ "$run_sidecar" = true ] && port_taken "$http_port"; then
  say "port $http_port (the sidecar's HTTP API) is taken: stop what listens there or set KV_HTTP_PORT to a free port"
  exit $EXIT_CONFIG
fi

orthanc_pid=""
sidecar_pid=""
stop_orthanc() {
  if [ -n "$orthanc_pid" ]; then
    kill "$orthanc_pid" 2>/dev/null || true
    wait "$orthanc_pid" 2>/dev/null || true
    rm -f "$data/orthanc.pid"
    say "local Orthanc stopped"
  fi
}
trap stop_orthanc EXIT

if [ -z "${ORTHANC_URL:-}" ]; then
  if [ "$run_sidecar" = false ] && local_orthanc_running; then
    use_local_credentials
    say "using the local Orthanc at $ORTHANC_URL that start.sh is running (user $ORTHANC_USERNAME)"
  else
    for port in "$orthanc_port" "$dicom_port"; do
      if port_taken "$port"; then
        variable=KV_ORTHANC_PORT
        [ "$port" = "$dicom_port" ] && variable=KV_ORTHANC_DICOM_PORT
        say "port $port (the local Orthanc's) is taken: stop what listens there, set $variable to a free port, or set ORTHANC_URL (with ORTHANC_USERNAME and ORTHANC_PASSWORD) to use that Orthanc"
        exit $EXIT_CONFIG
      fi
    done
    mkdir -p "$data/db"
    node -e '
      const fs = require("fs");
      const [data, httpPort, dicomPort] = process.argv.slice(1);
      const config = JSON.parse(fs.readFileSync("orthanc/orthanc.json", "utf8"));
      config.StorageDirectory = config.IndexDirectory = data + "/db";
      config.HttpPort = Number(httpPort);
      config.DicomPort = Number(dicomPort);
      // Orthanc cannot bind its REST API to one address; this makes it refuse every other host.
      config.RemoteAccessAllowed = false;
      config.LuaScripts = [require("path").resolve("orthanc/kidney-volumes.lua")];
      fs.writeFileSync(data + "/orthanc.json", JSON.stringify(config, null, 2));
      const [user, password] = Object.entries(config.RegisteredUsers)[0];
      fs.writeFileSync(data + "/credentials", user + "\n" + password + "\n", { mode: 0o600 });
    ' "$data" "$orthanc_port" "$dicom_port"
    # Its own session: Ctrl-C in this terminal reaches the sidecar, not Orthanc, which is stopped
    # only once the sidecar is done with the study in hand.
    KV_SIDECAR_URL="http://127.0.0.1:$http_port" setsid /usr/sbin/Orthanc "$data/orthanc.json" >>"$data/orthanc.log" 2>&1 &
    orthanc_pid=$!
    echo "$orthanc_pid" > "$data/orthanc.pid"
    use_local_credentials
    for _ in $(seq 1 150); do
      orthanc_answers && break
      kill -0 "$orthanc_pid" 2>/dev/null || { say "Orthanc exited; see $data/orthanc.log"; exit 1; }
      sleep 0.2
    done
    say "local Orthanc at $ORTHANC_URL (user $ORTHANC_USERNAME, DICOM port $dicom_port), storage $data/db, log $data/orthanc.log"
  fi
fi

if [ "$run_sidecar" = false ]; then
  # In the foreground: the menu needs the terminal. The EXIT trap stops an Orthanc started for it.
  status=0
  node dist/bundle/main.js "$@" || status=$?
  exit $status
fi

say "sidecar HTTP API on http://127.0.0.1:$http_port (token in $state_dir/api-token); Ctrl-C stops the sidecar, then Orthanc"
# A small V8 heap, as in the Dockerfile (README, "Memory"); a NODE_OPTIONS of the caller wins.
NODE_OPTIONS="${NODE_OPTIONS:---max-semi-space-size=2 --max-old-space-size=96}" node dist/bundle/main.js "$@" &
sidecar_pid=$!
# Ctrl-C reaches the sidecar from the terminal; a SIGTERM sent to this script alone is passed on.
# The sidecar finishes the study in hand (or hands it back) and exits; then the EXIT trap stops Orthanc.
trap 'kill -TERM "$sidecar_pid" 2>/dev/null || true' TERM
trap 'say "stopping the sidecar (it finishes the study in hand), then Orthanc"' INT
status=0
while kill -0 "$sidecar_pid" 2>/dev/null; do
  wait "$sidecar_pid" && status=0 || status=$?
done
exit $status
