#!/usr/bin/env bash
# The whole test suite: type check, lint (TypeScript and shell), unit and workflow tests, and end-to-end tests on
# the real lab (brought up here if it is not running; that needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -d node_modules ]] || npm ci --no-audit --no-fund --loglevel=error
bash lab/lab.sh up >/dev/null
npx tsc --noEmit -p .
npx eslint .
bash scripts/shellcheck.sh   # every shell script of images/, lab/ and scripts/
results=$(mktemp)
status=0
npx jest ${CI:+--ci} --json --outputFile="$results" "$@" || status=$?
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`)' "$results" || true
rm -f "$results"
exit $status
