// Bastion benchmark (issue 15): the no-op redeploy of the smoke stack (topology/smoke.yaml's services) on the same
// three lab hosts, reached three ways:
//   (a) directly as root: topology/smoke.yaml as it is
//   (b) directly as user deploy, root through `sudo -n` (ssh.docker: sudo)
//   (c) as deploy through the lab's bastion (ssh.jumpHost, as OpenSSH's ProxyJump)
// (b) and (c) are smoke.yaml with other ssh settings, written into the lab state dir at run time (topologies
// smoke-sudo and smoke-bastion). The three deploy the same containers: a container's spec hash covers its image, env,
// volumes and labels, not the topology's name nor how its host is reached, so a run of one right after another is a
// real no-op. The bench checks it: no run creates or recreates anything, and every container id stays the same.
// Each is run once to settle, then N rounds of a, b, c with one worker running. A round first waits until the
// worker's pooled SSH connections have closed, so its first a, b, c each open their connections as a redeploy started
// a while after the last one does ("cold"); then a, b, c again at once, on the kept connections ("warm"). Reported:
// medians, b/a and c/a; where the time goes, from the runs' histories (each activity's start to close, median per
// variant) and from the connection alone (handshake plus one command as root, and one command on an open connection).
// The last run is smoke.yaml as root, so the lab is left as `npm start` leaves it. Writes bench/results/bastion-<date>.json.
// Usage: bash lab/lab.sh up && node bench/run.js bastion [--rounds 5]
import { writeResults } from './write-results';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import { parseDocument } from 'yaml';
import { loadPlan } from '../lib/load';
import { labDir, PROJECT_ROOT } from '../lib/paths';
import { closeHostConnections, HostSession, sshTarget } from '../lib/ssh';
import { hostRef } from '../model/plan';
import { runHistories } from '../test/helpers/history';
import { cli, labStatus, lastJsonLine, sshRun, startWorker, type LabStatus } from '../test/helpers/lab';
import { median, round, timed } from './timing';

const SMOKE = path.join(PROJECT_ROOT, 'topology/smoke.yaml');
// lib/ssh.ts closes a kept Docker API channel 4 s after its last request, a pooled connection 20 s after its last
// channel, and the bastion's connection 20 s after the last host connection through it closed: 50 s after a run, the
// worker has no connection left to any host or to the bastion.
const POOL_CLOSED_AFTER_MS = 50000;

type VariantKey = 'a' | 'b' | 'c';

interface Variant {
  key: VariantKey;
  label: string;
  file: string;
}

interface RunOutcome {
  status: string;
  runId: string;
  containers: { created: number; recreated: number; unchanged: number };
}

interface MeasuredRun {
  variant: VariantKey;
  phase: 'settle' | 'cold' | 'warm' | 'closing';
  seconds: number;
  runId: string;
  containers: RunOutcome['containers'];
}

/** smoke.yaml as (b) and (c) reach the hosts, in the lab state dir; the catalog path made absolute. */
function variants(lab: LabStatus): Variant[] {
  const prod = lab.production;
  if (!prod?.bastion.up) throw new Error('the lab has no bastion up: run "bash lab/lab.sh up" (it makes the bastion and the deploy user)');
  const dir = path.join(labDir(), 'bench-bastion');
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, how: string, ssh: Record<string, unknown>): string => {
    const doc = parseDocument(fs.readFileSync(SMOKE, 'utf8'));
    doc.set('name', name);
    doc.set('catalog', path.resolve(path.dirname(SMOKE), String(doc.get('catalog'))));
    for (const [field, value] of Object.entries(ssh)) doc.setIn(['ssh', field], value);
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, `# Written by bench/bastion.ts: topology/smoke.yaml reached ${how}.\n${doc.toString()}`);
    return file;
  };
  const deploy = { user: prod.users.sudo, knownHosts: prod.knownHosts, docker: 'sudo' };
  const { address, port, user } = prod.bastion;
  return [
    { key: 'a', label: 'direct, root', file: SMOKE },
    { key: 'b', label: `direct, ${deploy.user} + sudo`, file: write('smoke-sudo', `directly as ${deploy.user}, root through sudo -n`, deploy) },
    { key: 'c', label: `${deploy.user} + sudo through the bastion ${address}:${port}`, file: write('smoke-bastion', `as ${deploy.user} through the bastion`, { ...deploy, jumpHost: { address, port, user } }) },
  ];
}

/** Container name -> id on its host, read over the lab's own root SSH (not through the code under test). */
function containerIds(lab: LabStatus): Record<string, string> {
  const { plan } = loadPlan(SMOKE);
  const ids: Record<string, string> = {};
  for (const c of plan.stages.flatMap((s) => s.containers)) {
    const r = sshRun(lab, c.host, `docker inspect -f '{{.Id}}' ${c.name}`);
    ids[`${c.host}/${c.name}`] = r.code === 0 ? r.stdout.trim().slice(0, 12) : 'missing';
  }
  return ids;
}

// ---- where the time goes ----

interface TimedEvent {
  eventId: string;
  eventTime: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string }; input?: { payloads: { data: string }[] } };
  activityTaskStartedEventAttributes?: { scheduledEventId: string };
  activityTaskCompletedEventAttributes?: { scheduledEventId: string };
  activityTaskFailedEventAttributes?: { scheduledEventId: string };
}

/** Seconds from the run's start to its end (the workflow), and each activity's start to close, by type and host. */
function runBreakdown(runId: string): { workflowSeconds: number; activities: Record<string, number> } {
  const at = (e: TimedEvent) => Date.parse(e.eventTime) / 1000;
  const activities: Record<string, number> = {};
  let workflowSeconds = 0;
  for (const h of runHistories(runId)) {
    const events = (JSON.parse(h.raw) as { events: TimedEvent[] }).events;
    if (h.workflowId === runId) workflowSeconds = at(events[events.length - 1]) - at(events[0]);
    const byId = new Map(events.map((e) => [e.eventId, e]));
    const startedOf = new Map(events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => [e.activityTaskStartedEventAttributes!.scheduledEventId, e]));
    for (const e of events) {
      const scheduledId = (e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes)?.scheduledEventId;
      const scheduled = scheduledId ? byId.get(scheduledId)?.activityTaskScheduledEventAttributes : undefined;
      const started = scheduledId ? startedOf.get(scheduledId) : undefined;
      if (!scheduled || !started) continue;
      const data = scheduled.input?.payloads[0]?.data;
      const host = data ? (JSON.parse(Buffer.from(data, 'base64').toString()) as { host?: { name?: string } }).host?.name : undefined;
      const key = host ? `${scheduled.activityType.name} ${host}` : scheduled.activityType.name;
      activities[key] = (activities[key] ?? 0) + at(e) - at(started);
    }
  }
  return { workflowSeconds, activities };
}

/** Per activity (type and host): the median of its seconds over the variant's runs, a / b / c side by side, largest c - a first. */
function activityTable(runs: MeasuredRun[], breakdowns: Map<string, ReturnType<typeof runBreakdown>>): { activity: string; a: number; b: number; c: number }[] {
  const keys = new Set(runs.flatMap((r) => Object.keys(breakdowns.get(r.runId)!.activities)));
  const med = (v: VariantKey, key: string) => round(median(runs.filter((r) => r.variant === v).map((r) => breakdowns.get(r.runId)!.activities[key] ?? 0)));
  return [...keys].map((activity) => ({ activity, a: med('a', activity), b: med('b', activity), c: med('c', activity) })).sort((x, y) => y.c - y.a - (x.c - x.a));
}

/** The connection alone, from this process (its own pool): open a connection to the host and run `true` as root
 *  (the handshake, through the bastion for c), then `true` as root again on the open connection. */
async function connectionTimes(v: Variant, hostName: string, rounds: number): Promise<{ connectAndCommand: number; command: number }> {
  const { plan } = loadPlan(v.file);
  const target = sshTarget(hostRef(plan.hosts.find((h) => h.name === hostName)!), plan.ssh);
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < rounds; i++) {
    closeHostConnections();
    const first = await timed(async () => {
      const s = await HostSession.open(target);
      return { s, r: await s.exec(s.asRoot('true')) };
    });
    if (first.value.r.code !== 0) throw new Error(`${v.key}: \`true\` as root on ${hostName} failed: ${first.value.r.stderr.trim()}`);
    cold.push(first.seconds);
    warm.push((await timed(() => first.value.s.exec(first.value.s.asRoot('true')))).seconds);
  }
  closeHostConnections();
  return { connectAndCommand: round(median(cold) * 1000), command: round(median(warm) * 1000) };
}

// ---- the bench ----

export async function benchBastion(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { rounds: { type: 'string' } } });
  const rounds = Number(values.rounds ?? 5);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) throw new Error('--rounds takes a number from 1 to 50');
  const lab = labStatus();
  const all = variants(lab);
  const say = (s: string) => console.log(`[bench] ${s}`);
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `bench-bastion-${process.pid}` };
  const worker = await startWorker(env);
  const measured: MeasuredRun[] = [];
  const measure = async (v: Variant, phase: MeasuredRun['phase']): Promise<void> => {
    const r = await timed(() => cli(['run', v.file, '--json'], env));
    const outcome = r.value.code === 0 ? lastJsonLine<RunOutcome>(r.value.stdout) : undefined;
    if (outcome?.status !== 'completed') throw new Error(`(${v.key}) contrail-deploy run ${v.file} exited ${r.value.code}:\n${(r.value.stdout + r.value.stderr).slice(-3000)}`);
    measured.push({ variant: v.key, phase, seconds: r.seconds, runId: outcome.runId, containers: outcome.containers });
    say(`  ${phase} ${v.key}: ${r.seconds.toFixed(2)} s ${JSON.stringify(outcome.containers)}`);
  };
  try {
    say(`smoke stack on ${lab.hosts.length} hosts, ${rounds} rounds; ${os.cpus().length} cores`);
    for (const v of all) say(`(${v.key}) ${v.label}: ${path.relative(PROJECT_ROOT, v.file)}`);
    say('settle: each once ...');
    for (const v of all) await measure(v, 'settle');
    const idsBefore = containerIds(lab);
    for (let i = 1; i <= rounds; i++) {
      say(`round ${i}: waiting ${POOL_CLOSED_AFTER_MS / 1000} s for the worker's SSH connections to close ...`);
      await new Promise((r) => setTimeout(r, POOL_CLOSED_AFTER_MS));
      for (const v of all) await measure(v, 'cold');
      for (const v of all) await measure(v, 'warm');
    }
    const idsAfter = containerIds(lab);
    say('closing run: smoke.yaml as root ...');
    await measure(all[0], 'closing');

    say('the connection alone (controller1) ...');
    const connection: Partial<Record<VariantKey, Awaited<ReturnType<typeof connectionTimes>>>> = {};
    for (const v of all) connection[v.key] = await connectionTimes(v, 'controller1', rounds);
    say('reading the runs\' histories ...');
    const timedRuns = measured.filter((r) => r.phase === 'cold' || r.phase === 'warm');
    const breakdowns = new Map(timedRuns.map((r) => [r.runId, runBreakdown(r.runId)]));

    const phaseFigures = (phase: 'cold' | 'warm') => {
      const runs = timedRuns.filter((r) => r.phase === phase);
      const med = (v: VariantKey, f: (r: MeasuredRun) => number) => round(median(runs.filter((r) => r.variant === v).map(f)));
      const seconds = { a: med('a', (r) => r.seconds), b: med('b', (r) => r.seconds), c: med('c', (r) => r.seconds) };
      const workflowSeconds = { a: med('a', (r) => breakdowns.get(r.runId)!.workflowSeconds), b: med('b', (r) => breakdowns.get(r.runId)!.workflowSeconds), c: med('c', (r) => breakdowns.get(r.runId)!.workflowSeconds) };
      return {
        medianSeconds: seconds,
        ratios: { bOverA: round(seconds.b / seconds.a), cOverA: round(seconds.c / seconds.a) },
        medianWorkflowSeconds: workflowSeconds,
        activitiesMedianSeconds: activityTable(runs, breakdowns),
        runs: runs.map((r) => ({ variant: r.variant, seconds: round(r.seconds), workflowSeconds: round(breakdowns.get(r.runId)!.workflowSeconds), runId: r.runId })),
      };
    };
    for (const phase of ['cold', 'warm'] as const) {
      const f = phaseFigures(phase);
      say(`${phase}: median a ${f.medianSeconds.a} s, b ${f.medianSeconds.b} s, c ${f.medianSeconds.c} s; b/a ${f.ratios.bOverA}, c/a ${f.ratios.cOverA}`);
      for (const row of f.activitiesMedianSeconds.slice(0, 4)) say(`    ${row.activity}: a ${row.a} s, b ${row.b} s, c ${row.c} s`);
    }
    say(`the connection to controller1 (ms): ${JSON.stringify(connection)}`);
    const results = {
      date: new Date().toISOString(),
      machine: { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
      variants: Object.fromEntries(all.map((v) => [v.key, { how: v.label, topology: path.relative(PROJECT_ROOT, v.file) }])),
      rounds,
      cold: phaseFigures('cold'),
      warm: phaseFigures('warm'),
      connectionMs: connection,
      settleAndClosing: measured.filter((r) => r.phase === 'settle' || r.phase === 'closing').map((r) => ({ variant: r.variant, phase: r.phase, seconds: round(r.seconds), containers: r.containers })),
      checks: {
        // The first run (a, settling) may deploy what is missing; any other that changes something was no no-op.
        'every run after the first a no-op (nothing created or recreated)': measured.slice(1).every((r) => r.containers.created + r.containers.recreated === 0),
        'container ids unchanged over the rounds': JSON.stringify(idsBefore) === JSON.stringify(idsAfter) && !Object.values(idsAfter).includes('missing'),
      },
      containerIds: idsAfter,
    };
    const file = writeResults('bastion', results);
    console.log(`\n${JSON.stringify(results, null, 2)}\nresults: ${path.relative(PROJECT_ROOT, file)}`);
  } finally {
    await worker.stop();
    fs.rmSync(path.join(labDir(), 'bench-bastion'), { recursive: true, force: true });
  }
}
