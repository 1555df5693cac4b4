#!/usr/bin/env bash
# The whole test suite: type check, lint, unit and workflow tests, and end-to-end tests on the real lab
# (brought up here if it is not running; that needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
bash lab/lab.sh up >/dev/null
npx tsc --noEmit -p .
npx eslint .
exec npx jest ${CI:+--ci} "$@"
