// Deploy benchmark (issue 5): topology/lab.yaml (some forty services) on the lab's three hosts, in one script run.
//   (a) the original's method: group by group in stage order, one `ssh host docker run -d ...` per container, no
//       waiting between groups (after `docker login` on each host); then how many services answer their health port
//       right away and a minute later
//   (b) contrail-deploy run, cold (no container and no image on the hosts)
//   (c) contrail-deploy run again, nothing changed (target: under 3 s, zero containers recreated)
// Both (a) and (b) start from hosts without containers or images, so both pull everything.
// Usage: bash lab/lab.sh up && node bench/run.js deploy   (builds the images first when the registry lacks them)
//        node bench/run.js deploy --noop [--rounds 9]      (c only, on the lab as it is: one run first, which deploys
//        whatever is not there yet, then the rounds; writes deploy-noop-<date>.json)
import { writeResults } from './write-results';
import * as os from 'os';
import { parseArgs } from 'util';
import * as path from 'path';
import { tcpProbe } from '../lib/probes';
import { loadPlan } from '../lib/load';
import { PROJECT_ROOT } from '../lib/paths';
import { resolveSecret } from '../lib/secrets';
import { shq } from '../model/shell';
import type { Plan, PlannedContainer } from '../model/plan';
import { cli, labStatus, lastJsonLine, sshRun, startWorker, type LabStatus } from '../test/helpers/lab';
import { median, round, timed } from './timing';

const TOPOLOGY = path.join(PROJECT_ROOT, 'topology/lab.yaml');

interface RunOutcome {
  status: string;
  runId: string;
  containers: { created: number; recreated: number; unchanged: number };
  digests: Record<string, string>;
}

function ssh(lab: LabStatus, host: string, command: string, input?: string): string {
  const r = sshRun(lab, host, command, input);
  if (r.code !== 0) throw new Error(`ssh ${host} ${command.slice(0, 80)}... failed (${r.code}): ${r.stderr.slice(-1000)}`);
  return r.stdout;
}

/** The original's `docker run` line for one container: the same image digest, env, volumes and privileges. */
function dockerRun(c: PlannedContainer, imageRef: string): string {
  const env = Object.entries(c.env).map(([k, v]) => `-e ${shq(`${k}=${typeof v === 'string' ? v : resolveSecret(v.secret)}`)}`);
  const flags = [...env, ...c.volumes.map((v) => `-v ${shq(v)}`), ...(c.privileged ? ['--privileged'] : []), ...c.capAdd.map((cap) => `--cap-add ${cap}`)];
  return `docker run -d --name ${c.name} --network host --restart unless-stopped ${flags.join(' ')} ${imageRef} ${(c.command ?? []).map(shq).join(' ')}`;
}

/** No container and no image on any host: both methods pull everything. */
export function emptyHosts(lab: LabStatus): void {
  for (const h of lab.hosts) ssh(lab, h.name, 'ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null; docker image prune -af >/dev/null');
}

async function answering(containers: PlannedContainer[]): Promise<number> {
  const ok = await Promise.all(containers.map((c) => (c.health?.tcp ? tcpProbe(c.hostAddress, c.health.tcp, 2000) : Promise.resolve(true as const))));
  return ok.filter((r) => r === true).length;
}

async function original(lab: LabStatus, plan: Plan, digests: Record<string, string>): Promise<void> {
  const password = resolveSecret(lab.registry.passwordSecret);
  for (const h of lab.hosts) ssh(lab, h.name, `docker login -u ${lab.registry.username} --password-stdin ${lab.registry.address} >/dev/null`, password);
  try {
    for (const stage of plan.stages) for (const c of stage.containers) ssh(lab, c.host, dockerRun(c, digests[c.image]));
  } finally {
    for (const h of lab.hosts) ssh(lab, h.name, `docker logout ${lab.registry.address} >/dev/null`);
  }
}

export async function benchDeploy(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { noop: { type: 'boolean' }, rounds: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) throw new Error('--rounds takes a number from 1 to 100');
  const lab = labStatus();
  const { plan } = loadPlan(TOPOLOGY);
  const containers = plan.stages.flatMap((s) => s.containers);
  const say = (s: string) => console.log(`[bench] ${s}`);
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `bench-deploy-${process.pid}` };
  const worker = await startWorker(env);
  const run = async (args: string[]): Promise<RunOutcome> => {
    const r = await cli(args, env);
    const outcome = lastJsonLine<RunOutcome>(r.stdout);
    if (outcome.status !== 'completed') throw new Error(`${args.join(' ')} ended ${outcome.status}:\n${r.stdout.slice(-4000)}`);
    return outcome;
  };
  /** (c): runs again with nothing changed; the median is the figure, and every one must recreate nothing. */
  const noops = async () => {
    say(`(c) contrail-deploy run again, nothing changed, ${rounds} times ...`);
    const runs: Awaited<ReturnType<typeof timed<RunOutcome>>>[] = [];
    for (let i = 0; i < rounds; i++) runs.push(await timed(() => run(['run', TOPOLOGY, '--json'])));
    const seconds = median(runs.map((r) => r.seconds));
    const recreated = runs.reduce((n, r) => n + r.value.containers.created + r.value.containers.recreated, 0);
    say(`    ${runs.map((r) => r.seconds.toFixed(2)).join(', ')} s (median ${seconds.toFixed(2)}), ${JSON.stringify(runs[runs.length - 1].value.containers)}`);
    return {
      seconds, recreated,
      result: { seconds: round(seconds), min: round(Math.min(...runs.map((r) => r.seconds))), max: round(Math.max(...runs.map((r) => r.seconds))), runs: runs.map((r) => ({ seconds: round(r.seconds), containers: r.value.containers, runId: r.value.runId })) },
    };
  };
  const machine = { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) };
  try {
    say(`${containers.length} containers on ${lab.hosts.length} hosts; ${os.cpus().length} cores`);
    if (values.noop) {
      say('one run first: deploys what is not there yet, and warms the worker ...');
      await run(['run', TOPOLOGY, '--json']);
      const c = await noops();
      const results = { date: new Date().toISOString(), machine, containers: containers.length, hosts: lab.hosts.length, phases: { c: c.result }, targets: { 'c < 3 s with zero containers recreated': c.seconds < 3 && c.recreated === 0 } };
      const file = writeResults('deploy-noop', results);
      console.log(`\n${JSON.stringify(results, null, 2)}\nresults: ${path.relative(PROJECT_ROOT, file)}`);
      return;
    }
    const { digests } = await run(['build', TOPOLOGY, '--json']);

    emptyHosts(lab);
    say('(a) the original: docker run over ssh per container, group by group, no waiting ...');
    const a = await timed(() => original(lab, plan, digests));
    const answeringAtOnce = await answering(containers);
    await new Promise((r) => setTimeout(r, 60000));
    const answeringAfterMinute = await answering(containers);
    say(`    ${a.seconds.toFixed(1)} s; answering their health port: ${answeringAtOnce} at once, ${answeringAfterMinute} a minute later (of ${containers.length})`);

    emptyHosts(lab);
    say('(b) contrail-deploy run, cold ...');
    const b = await timed(() => run(['run', TOPOLOGY, '--json']));
    say(`    ${b.seconds.toFixed(1)} s, ${JSON.stringify(b.value.containers)}; answering: ${await answering(containers)}`);

    // At once after (b).
    const c = await noops();

    const results = {
      date: new Date().toISOString(),
      machine,
      containers: containers.length,
      hosts: lab.hosts.length,
      phases: {
        a: { seconds: round(a.seconds), answeringAtOnce, answeringAfterMinute },
        b: { seconds: round(b.seconds), containers: b.value.containers, runId: b.value.runId },
        c: c.result,
      },
      ratios: { bOverA: round(b.seconds / a.seconds), cOverB: round(c.seconds / b.seconds) },
      targets: { 'c < 3 s with zero containers recreated': c.seconds < 3 && c.recreated === 0 },
    };
    const file = writeResults('deploy', results);
    console.log(`\n${JSON.stringify(results, null, 2)}\nresults: ${path.relative(PROJECT_ROOT, file)}`);
  } finally {
    await worker.stop();
  }
}

