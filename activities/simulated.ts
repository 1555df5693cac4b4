// Simulated host work, for measuring scale only: the six host activities with the real ones' signatures and result
// shapes, but no SSH and no Docker. Each waits a log-normal latency and fails at the topology's rates. Served only by
// `contrail-deploy worker --queues deploy --simulate`, on its own task queue, and only for requests that carry the
// topology's `simulate:` block: a real request that got here is refused, never answered with made-up results.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { clearedFaultsDir } from '../lib/paths';
import type {
  ActivityFunctions, HealthRequest, HealthResult, ItemOutcome, PrepareRequest, PrepareResult, PullRequest, PullResult, QuorumRequest, QuorumResult,
  StartRequest, StartResult, SurveyedContainer, SurveyRequest, SurveyResult,
} from '../model/activity-types';
import type { SimulationSpec } from '../model/types';
import { HEARTBEAT_EVERY_MS, keepAlive } from './heartbeat';

// ---- latency: log-normal from its median and 95th percentile ----

/** The standard normal's 95th percentile: p95 = median * exp(Z95 * sigma). */
const Z95 = 1.6448536269514722;
/** A drawn latency never reaches the host activities' start-to-close timeout (10 minutes). */
const MAX_LATENCY_MS = 5 * 60 * 1000;

/** sigma of the log-normal whose median and 95th percentile are given (0 when they are equal: a constant). */
export function latencySigma(latency: SimulationSpec['latencyMs']): number {
  return Math.log(latency.p95 / latency.median) / Z95;
}

/** The mean of the latency distribution: median * exp(sigma^2 / 2), above the median (the tail is long). */
export function expectedLatencyMs(latency: SimulationSpec['latencyMs']): number {
  return latency.median * Math.exp(latencySigma(latency) ** 2 / 2);
}

/** One latency drawn from the distribution (Box-Muller for the normal deviate). */
export function drawLatencyMs(latency: SimulationSpec['latencyMs'], random: () => number = Math.random): number {
  const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return Math.min(MAX_LATENCY_MS, latency.median * Math.exp(latencySigma(latency) * z));
}

// ---- faults ----


/** A number in [0, 1) from the host name (FNV-1a): the same hosts fail permanently on every run and every worker. */
export function hostFraction(host: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < host.length; i++) h = Math.imul(h ^ host.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}

/** Why a host's preparation fails for good, or undefined: listed in failHosts or chosen by the rate, until cleared. */
export function permanentFault(spec: SimulationSpec, host: string, cleared = isCleared(host)): string | undefined {
  if (cleared) return undefined;
  if (spec.failHosts.includes(host)) return 'listed in simulate.failHosts';
  if (hostFraction(host) < spec.permanentFailureRate) return `chosen by simulate.permanentFailureRate ${spec.permanentFailureRate}`;
  return undefined;
}

function isCleared(host: string): boolean {
  return fs.existsSync(path.join(clearedFaultsDir(), host));
}

/** The request's simulation, or a refusal: a request without one belongs to a real worker and real hosts. */
function simulation(activity: string, req: { simulate?: SimulationSpec }): SimulationSpec {
  if (req.simulate) return req.simulate;
  throw ApplicationFailure.nonRetryable(
    `${activity}: a real request (its topology has no simulate: block) reached the simulated worker, which never touches hosts. Serve it with a normal worker ("contrail-deploy worker --queues deploy"); only simulated runs route host work to this task queue.`,
    'InvalidPlan',
  );
}

/** One simulated step: waits its latency (heartbeating when that is long), then fails transiently at the given rate.
 *  Returns how long it took. The fault comes after the wait, as a real timeout or dropped connection would. */
async function simulateStep(spec: SimulationSpec, host: string, step: string): Promise<number> {
  const ms = drawLatencyMs(spec.latencyMs);
  const stopHeartbeats = ms >= HEARTBEAT_EVERY_MS ? keepAlive(() => ({ simulated: step, host })) : undefined;
  try {
    await sleep(ms);
  } finally {
    stopHeartbeats?.();
  }
  const failed = Math.random() < spec.transientFailureRate;
  recordAttempt(host, step, ms, failed);
  if (failed) throw ApplicationFailure.retryable(`simulated transient fault on ${host}: ${step}`, 'SimulatedTransientFault');
  return Math.round(ms);
}

// ---- what each step took ----

/** One attempt of a simulated step: the latency drawn, and whether it then failed (transiently). */
export interface SimulatedAttempt {
  ms: number;
  failed: boolean;
}

/** Every attempt of every step, in order, by `<host>|<step>` (the step as simulateStep names it). Kept in this worker's
 *  memory for the scale benchmark, whose workers run in its own process: the critical path of a run's own latencies
 *  and faults is computed from it. */
const attempts = new Map<string, SimulatedAttempt[]>();

function recordAttempt(host: string, step: string, ms: number, failed: boolean): void {
  const key = `${host}|${step}`;
  let list = attempts.get(key);
  if (!list) attempts.set(key, (list = []));
  list.push({ ms, failed });
}

/** The attempts recorded since the simulated hosts were last forgotten. */
export function recordedAttempts(): ReadonlyMap<string, readonly SimulatedAttempt[]> {
  return attempts;
}

// ---- what the simulated hosts hold ----

/** Kept in this worker's memory, per host: a restarted simulated worker starts from empty hosts, and two simulated
 *  workers do not share them (a scale run uses one). */
interface SimulatedHost {
  prepared: boolean;
  images: Set<string>;
  containers: Map<string, { id: string; imageRef: string }>;
}

const simulatedHosts = new Map<string, SimulatedHost>();

function hostState(host: string): SimulatedHost {
  let state = simulatedHosts.get(host);
  if (!state) simulatedHosts.set(host, (state = { prepared: false, images: new Set(), containers: new Map() }));
  return state;
}

/** Forgets every simulated host, and the attempts recorded (a scale run starts on empty hosts). */
export function resetSimulatedHosts(): void {
  simulatedHosts.clear();
  attempts.clear();
}

// ---- the activities ----

export async function prepareHost(req: PrepareRequest): Promise<PrepareResult> {
  const spec = simulation('prepareHost', req);
  const { host } = req;
  await simulateStep(spec, host.name, 'prepare');
  const fault = permanentFault(spec, host.name);
  if (fault) {
    const module = host.kernelModules[0] ?? 'vrouter';
    throw ApplicationFailure.nonRetryable(
      `host ${host.name}: step load kernel module: the kernel lacks module "${module}" (simulated permanent fault: ${fault}). Clear it with "contrail-deploy simulate clear ${host.name}", then retry the step.`,
      'KernelModuleMissing',
    );
  }
  const state = hostState(host.name);
  const outcome: ItemOutcome = state.prepared ? 'unchanged' : 'created';
  state.prepared = true;
  const items = [
    ...host.directories.map((d) => `directory ${d.path}`),
    ...host.kernelModules.map((m) => `kernel module ${m}`),
    ...(req.registry?.ca ? [`registry trust ${req.registry.address}`] : []),
  ].map((item) => ({ item, outcome }));
  return { host: host.name, dockerVersion: 'simulated', items };
}

export async function pullImages(req: PullRequest): Promise<PullResult> {
  const spec = simulation('pullImages', req);
  await simulateStep(spec, req.host.name, 'pull images');
  const { images } = hostState(req.host.name);
  const result: PullResult = { host: req.host.name, pulled: [], present: [] };
  for (const ref of req.imageRefs) {
    (images.has(ref) ? result.present : result.pulled).push(ref);
    images.add(ref);
  }
  return result;
}

export async function surveyHost(req: SurveyRequest): Promise<SurveyResult> {
  const spec = simulation('surveyHost', req);
  await simulateStep(spec, req.host.name, 'survey containers');
  const { containers } = hostState(req.host.name);
  return {
    host: req.host.name,
    containers: req.containers.map((c): SurveyedContainer => {
      const running = containers.get(c.name);
      if (!running) return { container: c.name, imageRef: null, healthy: false, note: 'absent' };
      return { container: c.name, imageRef: running.imageRef, healthy: true, ...(c.quorum ? { inQuorum: true } : {}) };
    }),
  };
}

export async function startContainer(req: StartRequest): Promise<StartResult> {
  const spec = simulation('startContainer', req);
  const c = req.container;
  await simulateStep(spec, c.host, `start ${c.name}`);
  const { containers } = hostState(c.host);
  const existing = containers.get(c.name);
  if (existing?.imageRef === req.imageRef) return { container: c.name, host: c.host, id: existing.id, outcome: 'unchanged' };
  const id = crypto.randomBytes(32).toString('hex');
  containers.set(c.name, { id, imageRef: req.imageRef });
  return { container: c.name, host: c.host, id, outcome: existing ? 'recreated' : 'created' };
}

export async function checkHealth(req: HealthRequest): Promise<HealthResult> {
  const spec = simulation('checkHealth', req);
  const c = req.container;
  // As the real gate: a container without a check passes at once.
  const health = c.health;
  if (!health || (!health.tcp && !health.http && !health.command)) return { container: c.name, host: c.host, answeredAfterMs: 0 };
  return { container: c.name, host: c.host, answeredAfterMs: await simulateStep(spec, c.host, `health ${c.name}`) };
}

export async function checkQuorum(req: QuorumRequest): Promise<QuorumResult> {
  const spec = simulation('checkQuorum', req);
  // As the real gate: without a command, a majority of healthy members is the quorum, and nothing is asked.
  if (req.command) await simulateStep(spec, req.healthy[0]?.host.name ?? req.service, `quorum ${req.service}`);
  return { service: req.service, inQuorum: req.healthy.map((m) => m.host.name) };
}

/** The host activities a simulated worker registers: the compiler holds them to the real signatures. */
export const simulatedActivities = { prepareHost, pullImages, surveyHost, startContainer, checkHealth, checkQuorum } satisfies Pick<
  ActivityFunctions,
  'prepareHost' | 'pullImages' | 'surveyHost' | 'startContainer' | 'checkHealth' | 'checkQuorum'
>;
