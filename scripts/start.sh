#!/usr/bin/env bash
# The main job on the local lab: bring the lab up (idempotent), then run the whole pipeline on topology/smoke.yaml (or
# the topology given) with a worker in the same process: nothing else needs to run first. Open the printed UI link to
# watch it in Temporal. The smoke stack stays deployed (smoke-web on controller1, port 8180, a port no catalog service
# uses), as a user's would, when `npm test` runs next.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
bash lab/lab.sh up >/dev/null
exec ./bin/contrail-deploy.js run "${1:-topology/smoke.yaml}" --with-worker
