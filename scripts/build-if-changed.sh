#!/usr/bin/env bash
# Builds dist/ (npm run build) unless it is newer than every source it is built from, so a second
# start does not spend time compiling nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=dist/.kv-build-stamp
if [ -f "$stamp" ] && [ -z "$(find src scripts/bundle.mjs package.json package-lock.json tsconfig.json -newer "$stamp" -print -quit)" ]; then
  echo "setup: dist/ is up to date"
  exit 0
fi
npm run build --silent
touch "$stamp"
