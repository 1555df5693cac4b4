#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine (as root): system packages, npm packages, the Temporal CLI, base images,
# and the lab. Safe to re-run; slow parts are cached in ~/.cache/contrail-deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Go builds (the Temporal CLI; the production-shaped cluster's server, schema tool and UI) need only Go and take
# minutes of CPU: on a fresh machine they run while the Debian packages install, and are cached once built.
go_log="${CONTRAIL_LAB_DIR:-.lab}/logs/setup-go-builds.log"
mkdir -p "$(dirname "$go_log")"
(bash lab/lab.sh temporal-cli >/dev/null && bash lab/temporal-cluster.sh build) >"$go_log" 2>&1 &
go_builds=$!
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "[setup] installing Debian packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-registry docker-compose apache2-utils busybox-static \
    debootstrap openssh-server openssh-client iproute2 util-linux kmod openssl curl ca-certificates postgresql >/dev/null
  # For `npm test`, which runs shellcheck on every shell script of images/, lab/ and scripts/ (scripts/shellcheck.sh).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
  # The operator's client, which the whole-stack test uses against the deployed OpenStack (Placement's commands too).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-openstackclient \
    python3-osc-placement >/dev/null
fi
if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
wait "$go_builds" || { cat "$go_log" >&2; echo "[setup] the Temporal builds failed (above)" >&2; exit 1; }
bash lab/lab.sh up "$@"
