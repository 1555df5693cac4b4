#!/usr/bin/env bash
# Records the replay fixtures (test/fixtures/histories) from real runs on the lab: each scenario's run and every part
# of it (child workflows <run>/...), one JSON file per workflow as `temporal workflow show --output json` prints it.
# test/workflow/replay.test.ts replays them against today's workflow code. Re-record only when a change is allowed to
# break runs in flight (see the README's "Versioning"); otherwise guard the change with patched().
#
#   bash scripts/record-histories.sh        (the lab must be up: contrail-deploy lab up)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=test/fixtures/histories
CLI=(node bin/contrail-deploy.js)
export CONTRAIL_TASK_QUEUE_PREFIX="rec-$$"
lab_json=$("${CLI[@]}" lab status --json)
temporal_cli=$(node -e 'console.log(JSON.parse(process.argv[1]).temporal.cli)' "$lab_json")
work=$(mktemp -d)
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null; rm -rf "$work"' EXIT

"${CLI[@]}" worker >"$work/worker.log" 2>&1 &
worker=$!

# Every workflow of a run: the run, then its parts in start order.
save_run() {
  local scenario=$1 run_id=$2 ids
  ids=$("$temporal_cli" workflow list --address 127.0.0.1:7233 --query "WorkflowId STARTS_WITH \"$run_id/\"" --output json \
    | node -e 'const l = JSON.parse(require("fs").readFileSync(0, "utf8")); for (const w of l.sort((a, b) => a.startTime.localeCompare(b.startTime))) console.log(w.execution.workflowId)')
  "$temporal_cli" workflow show --address 127.0.0.1:7233 --workflow-id "$run_id" --output json >"$OUT/$scenario.json"
  for id in $ids; do
    local part=${id#"$run_id"/}
    "$temporal_cli" workflow show --address 127.0.0.1:7233 --workflow-id "$id" --output json >"$OUT/$scenario.${part//\//-}.json"
  done
  echo "recorded $scenario: $run_id and $(wc -w <<<"$ids") parts"
}
run_id_of() { sed -n 's/^run \(\S*\) started.*/\1/p' "$1" | head -1; }

# A scratch topology: the smoke pair on the lab with a service of our own (its own port) and extra settings.
scratch() {
  local name=$1 extra=$2
  sed -e "s/^name: smoke$/name: $name/" -e "s/^release: .*/release: \"rec-$name\"/" -e "s|^catalog: ../images|catalog: $PWD/images|" \
    -e "s|LISTEN_PORT: \"8180\"|LISTEN_PORT: \"18382\"|" \
    -e 's|volumes: \["/dockervolumes/smoke:/data"\]|volumes: ["/dockervolumes/smoke:/data"]\n    health: { tcp: 18382, timeoutSeconds: 30 }|' topology/smoke.yaml >"$work/$name.yaml"
  sed -i "s|@lab/|$(node -e 'console.log(JSON.parse(process.argv[1]).labDir)' "$lab_json")/|g" "$work/$name.yaml"
  printf '%s\n' "$extra" >>"$work/$name.yaml"
  echo "$work/$name.yaml"
}

# deploy-noop-* are kept: each recorded from code before a patch, it proves that guard (see replay.test.ts).
find "$OUT" -name '*.json' ! -name 'deploy-noop-*' -delete
"${CLI[@]}" down topology/smoke.yaml >/dev/null 2>&1 || true

# A completed deploy, then the same again: settled by the survey.
"${CLI[@]}" run topology/smoke.yaml >"$work/completed.out"
save_run deploy-completed "$(run_id_of "$work/completed.out")"
"${CLI[@]}" run topology/smoke.yaml >"$work/surveyed.out"
save_run deploy-surveyed "$(run_id_of "$work/surveyed.out")"

# A whole build of the smoke images without the cache.
"${CLI[@]}" build topology/smoke.yaml --no-cache >"$work/build.out"
save_run build-tree "$(run_id_of "$work/build.out")"

# A host whose kernel module is missing, with no park: the run fails.
t=$(scratch recfail 'rollout: { parkTimeout: 0s }')
sed -i 's/kernelModules: \[kvm\]/kernelModules: [cdlab_no_such_module]/' "$t"
"${CLI[@]}" run "$t" >"$work/failed.out" || true
save_run deploy-failed-kernel-module "$(run_id_of "$work/failed.out")"

# A gate that parks, aborted by an operator; then resumed after the fix.
t=$(scratch recpark 'rollout: { parkTimeout: 1h }')
sed -i 's|health: { tcp: 18382, timeoutSeconds: 30 }|health: { tcp: 18382, command: [test, -f, /data/rec-ready], timeoutSeconds: 5 }|' "$t"
"${CLI[@]}" run "$t" >"$work/parked.out" || true
parked=$(run_id_of "$work/parked.out")
"${CLI[@]}" abort "$parked" >/dev/null || true
save_run deploy-parked-aborted "$parked"
ssh -i "$(node -e 'console.log(JSON.parse(process.argv[1]).ssh.keyFile)' "$lab_json")" -o UserKnownHostsFile="$(node -e 'console.log(JSON.parse(process.argv[1]).ssh.knownHosts)' "$lab_json")" \
  -o BatchMode=yes root@10.213.57.11 'touch /dockervolumes/smoke/rec-ready'
"${CLI[@]}" resume "$parked" >"$work/resumed.out"
save_run deploy-resumed "$(run_id_of "$work/resumed.out")"

"${CLI[@]}" down "$t" >/dev/null 2>&1 || true
ssh -i "$(node -e 'console.log(JSON.parse(process.argv[1]).ssh.keyFile)' "$lab_json")" -o UserKnownHostsFile="$(node -e 'console.log(JSON.parse(process.argv[1]).ssh.knownHosts)' "$lab_json")" \
  -o BatchMode=yes root@10.213.57.11 'rm -f /dockervolumes/smoke/rec-ready'
ls "$OUT"
