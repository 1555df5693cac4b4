#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine (as root): system packages, npm packages, the Temporal CLI, base images,
# and the lab. Safe to re-run; slow parts are cached in ~/.cache/contrail-deploy.
set -euo pipefail
cd "$(dirname "$0")/.."
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
bash lab/lab.sh up "$@"
# The production-shaped Temporal's binaries (server, schema tool, UI): built once into the cache (about 8 minutes on
# 2 cores), so that its e2e test (which starts the cluster) does not pay for it.
bash lab/temporal-cluster.sh build
