// Scale benchmark: topology/production.yaml's shape (3 controllers with every control-plane service, compute hosts
// in a canary and batches) with N simulated compute hosts, run through the real pipeline on the lab's Temporal dev
// server, with in-process workers: the workflows and the image builds are real, the host work is simulated
// (activities/simulated.ts: log-normal latencies, transient faults). Per N, one JSON line:
//   {computes, containers, completed, wallSeconds, idealSeconds, expectedIdealSeconds, idealWithoutFaultsSeconds, maxHistoryEvents, maxPayloadBytes, workflows,
//    workerRssMb, statusSeconds, summaryBytes, runId}
// and bench/results/scale-<date>.json. test/e2e/scale.test.ts runs the same code at 200 hosts against SCALE_LIMITS.
// Usage: bash lab/lab.sh up && node bench/run.js scale [--computes 100,300,1000] [--json]
import { writeResults } from './write-results';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs } from 'util';
import type { Client } from '@temporalio/client';
import { parseDocument, type YAMLMap, type YAMLSeq } from 'yaml';
import { drawLatencyMs, recordedAttempts, resetSimulatedHosts, type SimulatedAttempt } from '../activities/simulated';
import { startAndFollow } from '../cli/run';
import { loadPlan } from '../lib/load';
import { labDir, PROJECT_ROOT } from '../lib/paths';
import { connectClient } from '../lib/temporal';
import type { Plan, PlannedContainer } from '../model/plan';
import { HOST_GROUP_SIZE } from '../model/parts';
import { stageBatches } from '../model/rollout';
import { Semaphore } from '../model/semaphore';
import { ACTIVITY_RETRY } from '../model/shared';
import type { SimulationSpec } from '../model/types';
import type { WorkerOptions } from '../workers/worker';
import { cli, lastJsonLine } from '../test/helpers/lab';
import { round, timed } from './timing';

const PRODUCTION = path.join(PROJECT_ROOT, 'topology/production.yaml');
const SMOKE = path.join(PROJECT_ROOT, 'topology/smoke.yaml');
const SMOKE_SERVICE_IMAGE = 'smoke-web';

export const SCALE_SIMULATION: SimulationSpec = { latencyMs: { median: 300, p95: 900 }, transientFailureRate: 0.005, permanentFailureRate: 0, failHosts: [] };
export const SCALE_HOST_LIMIT = 50;
export const DEFAULT_COMPUTES = [100, 300, 1000];

/** What must hold at any fleet size (test/e2e/scale.test.ts): Temporal refuses payloads over 2 MB and histories over
 *  50,000 events, and warns long before; a run's parts and its summary must not grow with the fleet. */
export const SCALE_LIMITS = { maxPayloadBytes: 256 * 1024, maxHistoryEvents: 10000, summaryBytes: 64 * 1024 };

export interface ScaleResult {
  computes: number;
  containers: number;
  /** The run ended completed (a parked run is terminated and counts as not completed). */
  completed: boolean;
  wallSeconds: number;
  /** The critical path of this run's own latencies and transient faults (with their retry backoff) under the limits:
   *  what the run would take if Temporal and the workers added nothing (criticalPathSeconds, recordedStepTimes). */
  idealSeconds: number;
  /** The critical path expected before the run: the mean over seeded samples, with faults (sampledIdealSeconds). */
  expectedIdealSeconds: number;
  /** The same without faults: latencies and limits alone. */
  idealWithoutFaultsSeconds: number;
  maxHistoryEvents: number;
  maxPayloadBytes: number;
  workflows: number;
  /** Peak resident memory of this process, sampled every second: the three workers and the run's follower. */
  workerRssMb: number;
  /** `contrail-deploy status <run> --json`, as a process of its own. */
  statusSeconds: number;
  /** The run's summary: the parent workflow's result (or its failure's details). */
  summaryBytes: number;
  runId: string;
}

// ---- the topology ----

/** Simulated hosts get loopback addresses (127.213.x.y), unused by anything real. The simulated worker never connects
 *  to a host, so no traffic goes to them at all; and should a bug hand one of these hosts to a real worker, its SSH
 *  attempt would stay on this machine instead of leaving it. */
function simulatedAddress(index: number): string {
  return `127.213.${Math.floor(index / 254)}.${(index % 254) + 1}`;
}

/**
 * production.yaml with its compute hosts replaced by `computes` simulated ones (compute0001...), its controllers on
 * simulated addresses too, the lab's registry (the images are really built and pushed), concurrency.hosts 50 and a
 * simulate: block; everything else (services, roles, stages, rollout, secrets by name) is production's.
 */
export function scaleTopologyText(computes: number, registry: Plan['registry'], simulate: SimulationSpec = SCALE_SIMULATION): string {
  const doc = parseDocument(fs.readFileSync(PRODUCTION, 'utf8'));
  const controllers = ['ctl1', 'ctl2', 'ctl3'].map((name) => ({ name, roles: ['controller'] }));
  const computeHosts = Array.from({ length: computes }, (_, i) => ({ name: `compute${String(i + 1).padStart(4, '0')}`, roles: ['compute'] }));
  const hosts = doc.createNode([...controllers, ...computeHosts].map((h, i) => ({ name: h.name, address: simulatedAddress(i), roles: h.roles }))) as YAMLSeq;
  for (const item of hosts.items) (item as YAMLMap).flow = true;
  doc.set('name', `scale-${computes}`);
  doc.set('catalog', path.join(PROJECT_ROOT, 'images/catalog.yaml'));
  doc.set('registry', { address: registry.address, ...(registry.ca ? { ca: registry.ca } : {}), username: registry.username, password: registry.password });
  doc.set('hosts', hosts);
  doc.setIn(['concurrency', 'hosts'], SCALE_HOST_LIMIT);
  doc.set('simulate', simulate);
  doc.commentBefore = ` Generated by bench/scale.ts from topology/production.yaml: ${computes} simulated compute hosts; see simulate: at the end.`;
  return doc.toString({ lineWidth: 0 });
}

/**
 * The plan of a scale run. The build side is real, and production's 48 images take about 10 minutes to build cold;
 * so the run builds the smoke pair (images/smoke.yaml) instead, and every container names smoke-web. Each container
 * keeps production's spec otherwise (env with the derived addresses and secret names, volumes, labels, health and
 * quorum checks, dependencies): payloads and histories have production's size, and the stage / role / batch / quorum
 * structure and the container count per host are production's. (Pointing the topology's services at smoke-web
 * instead would lose the clustered services and shrink every payload.) The simulated worker runs no image anyway.
 * The topology is written to <lab>/scale/scale-<N>.yaml, so `contrail-deploy plan` can show it.
 */
export function scalePlan(computes: number, simulate: SimulationSpec = SCALE_SIMULATION): Plan {
  const smoke = loadPlan(SMOKE).plan;
  const file = path.join(labDir(), 'scale', `scale-${computes}.yaml`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, scaleTopologyText(computes, smoke.registry, simulate));
  const { plan } = loadPlan(file);
  return {
    ...plan,
    images: smoke.images.map((i) => ({ ...i, repository: `${plan.registry.address}/${i.name}` })),
    stages: plan.stages.map((s) => ({ ...s, containers: s.containers.map((c) => ({ ...c, image: SMOKE_SERVICE_IMAGE })) })),
  };
}

/**
 * The critical path the latencies and limits allow, in seconds, with no overhead at all, following workflows/hosts.ts
 * for a first deployment. Stages, and the batches of a stage, go one after the other; in a batch, the hosts take the
 * concurrency.hosts slots in order (each the first slot free), and a host's time is
 *   [prepare, in its first stage] + pull + max over its containers (start + health)
 * and a stage with quorum gates that ask their members adds the slowest of them. The run's first batch (while what
 * runs may settle parts) first surveys its hosts and, ahead of their turn, the next hosts up to a group's size, each
 * in a slot, its hosts' preparations beside them; its bring-up (pull and containers) follows once every survey is in.
 * Not the median times a step count: the slowest of a host's containers and of a wave of hosts is what a run waits
 * for, and log-normal maxima are well above the median. Each step's time comes from `times`: a run's own
 * (recordedStepTimes) or drawn (sampledIdealSeconds).
 */
export function criticalPathSeconds(plan: Plan, times: StepTimes): number {
  const firstStage = new Map<string, string>();
  for (const stage of plan.stages) for (const c of stage.containers) if (!firstStage.has(c.host)) firstStage.set(c.host, stage.name);
  const slots = plan.concurrency.hosts;
  let ms = 0;
  plan.stages.forEach((stage, i) => {
    stageBatches(stage, plan.rollout).forEach((batch, b) => {
      const settling = i === 0 && b === 0;
      const prepare = (host: string) => (firstStage.get(host) === stage.name ? times.prepare(host) : 0);
      const bringUp = (host: string) => {
        const containers = batch.containers.filter((c) => c.host === host);
        return times.pull(host, stage.name) + Math.max(0, ...containers.map((c) => times.start(c) + (hasHealthCheck(c) ? times.health(c) : 0)));
      };
      if (settling) {
        const surveyed = [...batch.hosts, ...hostsAhead(plan, batch.hosts)];
        ms += makespan([...batch.hosts.map(prepare), ...surveyed.map((h) => times.survey(h))], slots) + makespan(batch.hosts.map(bringUp), slots);
      } else {
        ms += makespan(batch.hosts.map((h) => prepare(h) + bringUp(h)), slots);
      }
    });
    // A gate without a command takes a majority of healthy members as the quorum and asks nothing.
    const asked = [...new Set(stage.containers.filter((c) => c.quorum?.command).map((c) => c.service))];
    if (asked.length) ms += Math.max(...asked.map((service) => times.quorum(service)));
  });
  return ms / 1000;
}

/** The hosts the run's first part surveys ahead of their turn (workflows/pipeline.ts): those of the later stages and
 *  batches, in order, up to a group's size with its own. */
function hostsAhead(plan: Plan, own: string[]): string[] {
  const later = plan.stages.flatMap((stage) => stageBatches(stage, plan.rollout).flatMap((b) => b.hosts));
  return [...new Set(later.filter((h) => !own.includes(h)))].slice(0, Math.max(0, HOST_GROUP_SIZE - own.length));
}

/** How long each step of a run took until it succeeded, in ms: its attempts, and the retry backoff between them. */
export interface StepTimes {
  prepare(host: string): number;
  survey(host: string): number;
  pull(host: string, stage: string): number;
  start(c: PlannedContainer): number;
  health(c: PlannedContainer): number;
  quorum(service: string): number;
}

/**
 * The steps of the run that just ended, from the attempts the simulated worker of this process recorded (its
 * latencies and transient faults, each fault followed by the activities' retry backoff, model/shared.ts ACTIVITY_RETRY,
 * while the host keeps its slot, as in the run). Its critical path is the run's ideal: wall / ideal is then what
 * Temporal and the workers added to this very run, free of the luck of its draws.
 */
export function recordedStepTimes(plan: Plan, recorded: ReadonlyMap<string, readonly SimulatedAttempt[]>): StepTimes {
  const steps = new Map([...recorded].map(([key, attempts]) => [key, untilSuccess(attempts)]));
  const nth = (key: string, n = 0) => steps.get(key)?.[n] ?? 0;
  // A host's pulls are one step per stage it runs something in, in stage order.
  const stagesOf = (host: string) => plan.stages.filter((s) => s.containers.some((c) => c.host === host)).map((s) => s.name);
  const quorumKeys = (service: string) => [...steps.keys()].filter((k) => k.endsWith(`|quorum ${service}`));
  return {
    prepare: (host) => nth(`${host}|prepare`),
    survey: (host) => nth(`${host}|survey containers`),
    pull: (host, stage) => nth(`${host}|pull images`, stagesOf(host).indexOf(stage)),
    start: (c) => nth(`${c.host}|start ${c.name}`),
    health: (c) => nth(`${c.host}|health ${c.name}`),
    quorum: (service) => Math.max(0, ...quorumKeys(service).map((k) => nth(k))),
  };
}

/** Attempts in order, grouped into steps: a step's attempts run until one that did not fail; its time includes the
 *  retry backoff after each failed one. */
function untilSuccess(attempts: readonly SimulatedAttempt[]): number[] {
  const steps: number[] = [];
  let ms = 0;
  let backoff = ACTIVITY_RETRY.initialIntervalMs;
  for (const a of attempts) {
    ms += a.ms;
    if (a.failed) {
      ms += backoff;
      backoff = Math.min(backoff * ACTIVITY_RETRY.backoffCoefficient, ACTIVITY_RETRY.maximumIntervalMs);
      continue;
    }
    steps.push(ms);
    ms = 0;
    backoff = ACTIVITY_RETRY.initialIntervalMs;
  }
  return steps;
}

/**
 * The critical path expected of the plan before any run: the mean over seeded samples, each step's latency drawn from
 * the simulate: distribution; with `faults` (the default) a step fails at the simulate: block's transient rate as the
 * simulated worker's do, and is retried after the activities' retry backoff. The same plan gets the same figure on
 * every run of the benchmark.
 */
export function sampledIdealSeconds(plan: Plan, options: { samples?: number; faults?: boolean } = {}): number {
  const latency = plan.simulate?.latencyMs;
  if (!latency) throw new Error('the ideal needs a simulated plan');
  const { samples = 100, faults = true } = options;
  const random = seededRandom(1);
  const draw = () => drawLatencyMs(latency, random);
  const rate = faults ? plan.simulate!.transientFailureRate : 0;
  const step = () => stepMs(draw, random, rate);
  const times: StepTimes = { prepare: step, survey: step, pull: step, start: step, health: step, quorum: step };
  let total = 0;
  for (let i = 0; i < samples; i++) total += criticalPathSeconds(plan, times);
  return total / samples;
}

/** One step until it succeeds: its latency, and per transient fault the retry backoff and the step again. */
function stepMs(draw: () => number, random: () => number, transientRate: number): number {
  let ms = draw();
  let backoff = ACTIVITY_RETRY.initialIntervalMs;
  for (let attempt = 1; attempt < ACTIVITY_RETRY.maximumAttempts && random() < transientRate; attempt++) {
    ms += backoff + draw();
    backoff = Math.min(backoff * ACTIVITY_RETRY.backoffCoefficient, ACTIVITY_RETRY.maximumIntervalMs);
  }
  return ms;
}

/** As the simulated gate: a container without a check passes at once. */
function hasHealthCheck(c: PlannedContainer): boolean {
  return Boolean(c.health && (c.health.tcp || c.health.http || c.health.command));
}

/** When the last job ends, the jobs taken in order by `slots` parallel slots, each job by the first slot free. */
function makespan(jobs: number[], slots: number): number {
  const free = new Array<number>(Math.max(1, Math.min(slots, jobs.length))).fill(0);
  for (const job of jobs) {
    const first = free.indexOf(Math.min(...free));
    free[first] += job;
  }
  return Math.max(...free);
}

/** A small seeded generator (mulberry32): the same plan gets the same ideal on every run of the benchmark. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

// ---- workers and runs ----

export interface ScaleWorkers {
  stop(): Promise<void>;
}

/**
 * In this process, on task queues of their own (so no other worker takes this run's tasks): the deploy worker with
 * the workflows, the build worker, and the simulated worker. The queue prefix goes into the environment, where
 * startAndFollow (as the CLI) takes it from.
 */
export async function startScaleWorkers(): Promise<ScaleWorkers> {
  const before = process.env.CONTRAIL_TASK_QUEUE_PREFIX;
  const queuePrefix = `scale-${process.pid}-${Date.now().toString(36)}`;
  process.env.CONTRAIL_TASK_QUEUE_PREFIX = queuePrefix;
  const { runWorkers } = await import('../workers/worker');
  const controller = new AbortController();
  const workers: Pick<WorkerOptions, 'kinds' | 'simulate'>[] = [{ kinds: ['build', 'deploy'] }, { kinds: ['deploy'], simulate: true }];
  const started = workers.map((o) => {
    let ready!: () => void;
    const polling = new Promise<void>((resolve) => (ready = resolve));
    const done = runWorkers({ ...o, queuePrefix, signal: controller.signal, onReady: () => ready() });
    const stoppedEarly = done.then(() => Promise.reject(new Error('a worker stopped before polling')));
    stoppedEarly.catch(() => undefined); // an error only until the worker polls; stop() ends it too
    return { done, polling: Promise.race([polling, stoppedEarly]) };
  });
  const stop = async () => {
    controller.abort();
    await Promise.allSettled(started.map((s) => s.done));
    if (before === undefined) delete process.env.CONTRAIL_TASK_QUEUE_PREFIX;
    else process.env.CONTRAIL_TASK_QUEUE_PREFIX = before;
  };
  await Promise.all(started.map((s) => s.polling)).catch(async (e: unknown) => {
    await stop();
    throw e;
  });
  return { stop };
}

/** Runs startAndFollow as `contrail-deploy run --json` does, keeping its output: thousands of step lines otherwise. */
async function startQuietly(plan: Plan): Promise<{ runId: string; status: string; output: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => lines.push(args.join(' '));
  try {
    await startAndFollow(plan, { json: true });
  } finally {
    console.log = log;
  }
  const output = lines.join('\n');
  return { ...lastJsonLine<{ runId: string; status: string }>(output), output };
}

/** A scale run started as runScale starts it (on empty simulated hosts, its output kept), and left as it ends or
 *  parks: for tests that then decide a parked step themselves (test/e2e/scale.test.ts). Needs startScaleWorkers. */
export async function startScaleRun(plan: Plan): Promise<{ runId: string; status: string; output: string }> {
  resetSimulatedHosts();
  return startQuietly(plan);
}

/** Builds and pushes the plan's images once (a build-only run, like `contrail-deploy build`): later runs find them in
 *  the registry by input hash, so no scale run times a build. */
export async function prebuildImages(plan: Plan): Promise<void> {
  const r = await startQuietly({ ...plan, hosts: [], stages: [] });
  if (r.status !== 'completed') throw new Error(`building the images ended ${r.status}:\n${r.output.slice(-4000)}`);
}

/** The process's resident memory, sampled every second until the returned function is called: the peak, in MB. */
function sampleRss(): () => number {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 1000);
  return () => {
    clearInterval(timer);
    return Math.round(Math.max(peak, process.memoryUsage.rss()) / 2 ** 20);
  };
}

/** One scale run: started and followed as `contrail-deploy run` does, then measured. Needs startScaleWorkers. */
export async function runScale(plan: Plan): Promise<ScaleResult> {
  const client = await connectClient();
  try {
    // Every run deploys to empty hosts, as the fleet's first deployment: hosts that an earlier run of this process
    // brought up (the controllers, the first computes) would otherwise be settled by the survey and skip their work.
    resetSimulatedHosts();
    const peakRss = sampleRss();
    const run = await timed(() => startQuietly(plan));
    const workerRssMb = peakRss();
    const { runId, status } = run.value;
    // A parked run would wait a day for an operator: a scale run has none.
    if (status === 'parked') await client.workflow.getHandle(runId).terminate('scale benchmark: a step parked');
    const measures = await measureRun(client, runId);
    const statusRun = await timed(() => cli(['status', runId, '--json']));
    if (statusRun.value.code !== 0) throw new Error(`status ${runId} failed: ${statusRun.value.stderr}`);
    return {
      computes: plan.hosts.filter((h) => h.roles.includes('compute')).length,
      containers: plan.stages.reduce((n, s) => n + s.containers.length, 0),
      completed: status === 'completed',
      wallSeconds: round(run.seconds),
      idealSeconds: round(runIdealSeconds(plan)),
      expectedIdealSeconds: round(sampledIdealSeconds(plan)),
      idealWithoutFaultsSeconds: round(sampledIdealSeconds(plan, { faults: false })),
      maxHistoryEvents: measures.maxHistoryEvents,
      maxPayloadBytes: measures.maxPayloadBytes,
      workflows: measures.workflows,
      workerRssMb,
      statusSeconds: round(statusRun.seconds),
      summaryBytes: measures.summaryBytes,
      runId,
    };
  } finally {
    await client.connection.close();
  }
}

/** The ideal of the run that just ended, from what this process's simulated worker recorded of it. */
function runIdealSeconds(plan: Plan): number {
  const recorded = recordedAttempts();
  if (!recorded.size) throw new Error('no simulated step was recorded in this process: the scale run needs its simulated worker here (startScaleWorkers)');
  return criticalPathSeconds(plan, recordedStepTimes(plan, recorded));
}

// ---- measuring a run's workflows ----

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

export interface RunMeasures {
  workflows: number;
  maxHistoryEvents: number;
  maxPayloadBytes: number;
  summaryBytes: number;
}

/** Every workflow of a run (the run and each child whose id starts with "<run>/"), each history fetched from the
 *  server: the longest history, the largest payload in any event, and the size of the run's own result. */
export async function measureRun(client: Client, runId: string): Promise<RunMeasures> {
  const executions = await runWorkflows(client, runId);
  const slots = new Semaphore(8);
  // Reduced as they come: at the old design's thousands of workflows, the histories would not fit at once.
  const measured = await Promise.all(executions.map((e) => slots.run(async () => {
    const history = await client.workflow.getHandle(e.workflowId, e.runId).fetchHistory();
    const events = history.events ?? [];
    return { events: events.length, payload: largestPayload(events), summary: e.workflowId === runId ? resultBytes(history) : 0 };
  })));
  return {
    workflows: executions.length,
    maxHistoryEvents: Math.max(...measured.map((m) => m.events)),
    maxPayloadBytes: Math.max(...measured.map((m) => m.payload)),
    summaryBytes: Math.max(...measured.map((m) => m.summary)),
  };
}

/** The run and its children from visibility, which lags the run by a moment: listed until two listings agree. */
async function runWorkflows(client: Client, runId: string): Promise<{ workflowId: string; runId: string }[]> {
  const parent = await client.workflow.getHandle(runId).describe();
  let children: { workflowId: string; runId: string }[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    const listed: typeof children = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId STARTS_WITH "${runId}/"` })) listed.push({ workflowId: wf.workflowId, runId: wf.runId });
    if (attempt > 0 && listed.length === children.length) break;
    children = listed;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return [{ workflowId: runId, runId: parent.runId }, ...children];
}

/** The largest payload's data anywhere in the events (inputs, results, failures' details, memos, summaries). */
function largestPayload(value: unknown): number {
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return 0;
  const v = value as Record<string, unknown>;
  let largest = v.data instanceof Uint8Array && 'metadata' in v ? v.data.length : 0;
  for (const key of Object.keys(v)) largest = Math.max(largest, largestPayload(v[key]));
  return largest;
}

/** The run's summary as recorded: the result of a completed run, the failure's details of a failed one. */
function resultBytes(history: History): number {
  const last = history.events?.[history.events.length - 1];
  const payload = last?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0] ?? last?.workflowExecutionFailedEventAttributes?.failure?.applicationFailureInfo?.details?.payloads?.[0];
  return payload?.data?.length ?? 0;
}

// ---- the benchmark ----

export async function benchScale(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { computes: { type: 'string' }, json: { type: 'boolean' } } });
  const sizes = values.computes ? values.computes.split(',').map(Number) : DEFAULT_COMPUTES;
  if (!sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= 10000)) throw new Error('--computes takes numbers from 1 to 10000, e.g. 100,300,1000');
  const say = (s: string) => (values.json ? undefined : console.error(`[bench] ${s}`));
  const workers = await startScaleWorkers();
  const results: ScaleResult[] = [];
  try {
    say(`simulated hosts: ${JSON.stringify(SCALE_SIMULATION)}, concurrency.hosts ${SCALE_HOST_LIMIT}; ${os.cpus().length} cores`);
    say('building and pushing the smoke images (skipped when the registry has them) ...');
    await prebuildImages(scalePlan(sizes[0]));
    for (const computes of sizes) {
      say(`${computes} compute hosts ...`);
      const result = await runScale(scalePlan(computes));
      results.push(result);
      say(`    ${result.containers} containers ${result.completed ? 'completed' : 'NOT completed'} in ${result.wallSeconds} s (ideal ${result.idealSeconds} s; expected ${result.expectedIdealSeconds} s, without faults ${result.idealWithoutFaultsSeconds} s); ${result.workflows} workflows, longest history ${result.maxHistoryEvents} events, largest payload ${result.maxPayloadBytes} bytes; status ${result.statusSeconds} s`);
      console.log(JSON.stringify(result));
    }
  } finally {
    await workers.stop();
  }
  const within = (r: ScaleResult) => r.completed && r.maxPayloadBytes < SCALE_LIMITS.maxPayloadBytes && r.maxHistoryEvents < SCALE_LIMITS.maxHistoryEvents && r.summaryBytes < SCALE_LIMITS.summaryBytes;
  const file = writeResults('scale', {
    date: new Date().toISOString(),
    machine: { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    simulate: SCALE_SIMULATION,
    concurrencyHosts: SCALE_HOST_LIMIT,
    limits: SCALE_LIMITS,
    results: results.map((r) => ({ ...r, withinLimits: within(r) })),
  });
  say(`results: ${path.relative(PROJECT_ROOT, file)}`);
}

