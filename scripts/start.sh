#!/usr/bin/env bash
# The main job on the local lab: bring the lab up (idempotent), then run the whole pipeline on topology/lab.yaml
# with a worker in the same process. Open the printed UI link to watch it in Temporal.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
bash lab/lab.sh up >/dev/null
exec ./bin/contrail-deploy.js run "${1:-topology/smoke.yaml}" --with-worker
