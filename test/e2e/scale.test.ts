// Scale limits, CI-sized: production's shape with 200 simulated compute hosts (bench/scale.ts), through the real
// pipeline on the lab's Temporal dev server, with in-process workers (workflows, real image builds, simulated host
// work). Fails when what grows with the fleet comes back: a payload, a history or the run's summary past the limits
// below, which hold with room to spare at 200 hosts when nothing holds per-host state in one workflow.
// Then one permanent failure at scale (300 hosts): a compute host of a middle batch fails its preparation; the rest of
// its batch comes up, the later batches do not start, the step parks; after `simulate clear`, `retry` of the step
// through the CLI lets the run finish. A smaller run resolves the same failure with `skip --force` instead.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { prebuildImages, runScale, scalePlan, SCALE_LIMITS, SCALE_SIMULATION, startScaleRun, startScaleWorkers, type ScaleResult, type ScaleWorkers } from '../../bench/scale';
import { clearedFaultsDir, PROJECT_ROOT } from '../../lib/paths';
import { connectClient } from '../../lib/temporal';
import { hostParts, partWorkflowId } from '../../model/parts';
import type { Plan } from '../../model/plan';
import { BATCHED_STAGE } from '../../model/rollout';
import type { ParkedStep, PartRecord, Step } from '../../model/steps';
import { CLI, lastJsonLine, type CliResult } from '../helpers/lab';

jest.setTimeout(20 * 60 * 1000);

const COMPUTES = 200;
let workers: ScaleWorkers | undefined;

beforeAll(async () => {
  workers = await startScaleWorkers();
  await prebuildImages(scalePlan(COMPUTES));
});

afterAll(async () => {
  await workers?.stop();
});

describe(`${COMPUTES} simulated compute hosts`, () => {
  let result: ScaleResult;

  beforeAll(async () => {
    result = await runScale(scalePlan(COMPUTES));
    console.log(`scale ${COMPUTES}: ${JSON.stringify(result)}`);
  });

  test(`the run of ${COMPUTES} simulated compute hosts completes`, () => {
    expect(result.completed).toBe(true);
    expect(result.containers).toBe(3 * 37 + 3 * COMPUTES);
  });

  test('no payload in any workflow of the run reaches 256 KB', () => {
    expect(result.maxPayloadBytes).toBeLessThan(SCALE_LIMITS.maxPayloadBytes);
  });

  test('no workflow of the run has 10,000 history events', () => {
    expect(result.maxHistoryEvents).toBeLessThan(SCALE_LIMITS.maxHistoryEvents);
  });

  test("the run's summary (its result) stays under 64 KB", () => {
    expect(result.summaryBytes).toBeGreaterThan(0);
    expect(result.summaryBytes).toBeLessThan(SCALE_LIMITS.summaryBytes);
  });
});

// ---- one permanent failure in a middle compute batch ----

/** `status --json`, as the CLI prints it. */
interface StatusView {
  runId: string;
  status: string;
  parts: PartRecord[];
  steps: Step[];
  containers: { created: number; recreated: number; unchanged: number };
  parked: (ParkedStep & { part: string })[];
}

/** `run|retry|skip --json`'s last line. */
interface RunJson {
  runId: string;
  status: string;
  containers: { created: number; recreated: number; unchanged: number };
  parked: (ParkedStep & { part: string })[];
  decisions: { action: string; step: string }[];
}

/** A scale plan whose compute stage has a failing host: the first host of the middle batch (batch 3 of 5), found from
 *  the parts the run will have. No transient faults (the outcome is the same on every run), a park timeout well
 *  beyond the test's time. */
function middleBatchFailure(computes: number) {
  const base = scalePlan(computes);
  const batches = hostParts(base)[base.stages.findIndex((s) => s.name === BATCHED_STAGE)];
  const middle = Math.floor(batches.length / 2);
  const failing = batches[middle];
  const host = failing[0].hosts[0];
  const generated = scalePlan(computes, { ...SCALE_SIMULATION, transientFailureRate: 0, failHosts: [host] });
  const plan: Plan = { ...generated, rollout: { ...generated.rollout, parkTimeoutSeconds: 3600 } };
  const containersOn = (hosts: string[]) => plan.stages.flatMap((s) => s.containers).filter((c) => hosts.includes(c.host));
  return { plan, host, batches, failing, later: batches.slice(middle + 1).flat(), containersOn, totalContainers: containersOn(plan.hosts.map((h) => h.name)).length };
}

/** Until `check` returns a value (polled every 2 s), or fails with the last value it saw. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/**
 * The CLI as a user would run it, its output sent to a file ("> file"). Not a pipe: bin/contrail-deploy.js ends with
 * process.exit() right after the command, which cuts a pipe's output short when it is larger than the pipe takes at
 * once (`status --json` of a 300-host stage is half a megabyte and arrived cut at 80 to 250 KB); a file is written
 * synchronously.
 */
async function cliToFile(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scale-cli-'));
  const file = path.join(dir, 'stdout');
  const fd = fs.openSync(file, 'w');
  try {
    return await new Promise<CliResult>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, cwd: PROJECT_ROOT, stdio: ['ignore', fd, 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout: fs.readFileSync(file, 'utf8'), stderr }));
    });
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function status(runId: string, ...filter: string[]): Promise<StatusView> {
  const r = await cliToFile(['status', runId, ...filter, '--json']);
  if (r.code !== 0) throw new Error(`status ${runId} ${filter.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as StatusView;
}

/** The CLI with the in-process workers' task-queue prefix, so that it follows the same run. */
const operator = (args: string[]) => cliToFile(args, { CONTRAIL_TASK_QUEUE_PREFIX: process.env.CONTRAIL_TASK_QUEUE_PREFIX });

/** Starts the run, which parks at the failing host's preparation, and waits until the rest of that batch is done
 *  (the run parks as soon as the step does, while the batch's other hosts still come up). `started` hears of the run
 *  before the wait, so that a failed wait leaves nothing running. */
async function startUntilParked(s: ReturnType<typeof middleBatchFailure>, started: (runId: string) => void): Promise<{ runId: string; parkedStatus: string; seconds: number }> {
  fs.rmSync(path.join(clearedFaultsDir(), s.host), { force: true });
  const startedAt = Date.now();
  const run = await startScaleRun(s.plan);
  started(run.runId);
  const others = s.failing.flatMap((p) => p.hosts).length - 1;
  await waitFor(`the other ${others} hosts of ${s.failing[0].stage} batch ${s.failing[0].batch?.index} to be done`, 5 * 60 * 1000, async () => {
    const view = await status(run.runId, '--stage', BATCHED_STAGE);
    const parts = view.parts.filter((p) => s.failing.some((f) => partWorkflowId(run.runId, f) === p.workflowId));
    const done = parts.reduce((n, p) => n + (p.hostStates?.done ?? 0), 0);
    return done >= others || view.status !== 'parked' ? view : undefined;
  });
  return { runId: run.runId, parkedStatus: run.status, seconds: (Date.now() - startedAt) / 1000 };
}

async function exists(client: Client, workflowId: string): Promise<boolean> {
  try {
    await client.workflow.getHandle(workflowId).describe();
    return true;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return false;
    throw e;
  }
}

/** A run left waiting for a decision (a failed test) would hold its park timeout: ended here. */
async function endIfRunning(client: Client | undefined, runId: string | undefined): Promise<void> {
  if (!client || !runId) return;
  const handle = client.workflow.getHandle(runId);
  const d = await handle.describe().catch(() => undefined);
  if (d?.status.name === 'RUNNING') await handle.terminate('scale test: the run was left parked');
}

/** A scale run with one permanent failure, started before the block's tests and left parked for them; ended (if a
 *  test left it waiting) and its fault marker removed after them. */
function parkedScaleRun(n: number, resolution: string) {
  const run = { s: middleBatchFailure(n), client: undefined as Client | undefined, runId: undefined as string | undefined, seconds: 0 };
  let started = 0;
  beforeAll(async () => {
    started = Date.now();
    run.client = await connectClient();
    const r = await startUntilParked(run.s, (id) => (run.runId = id));
    expect(r.parkedStatus).toBe('parked');
    run.seconds = r.seconds;
  });
  afterAll(async () => {
    await endIfRunning(run.client, run.runId);
    fs.rmSync(path.join(clearedFaultsDir(), run.s.host), { force: true });
    await run.client?.connection.close();
    console.log(`scale ${n} with a permanent failure, ${resolution}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
  return run;
}

describe('one permanent failure at scale: a compute host of a middle batch, resolved with retry', () => {
  const N = 300;
  const run = parkedScaleRun(N, 'retried');
  const { s } = run;
  let parked: StatusView;
  let compute: StatusView;

  beforeAll(async () => {
    parked = await status(run.runId!);
    compute = await status(run.runId!, '--stage', BATCHED_STAGE);
    console.log(`scale ${N}, ${s.host} fails (${s.failing[0].batch ? `batch ${s.failing[0].batch.index} of ${s.failing[0].batch.of}` : ''}): parked, its batch done, after ${run.seconds.toFixed(1)} s`);
  });

  test(`the failing host is the first of a middle compute batch, with later batches after it`, () => {
    expect(s.failing[0].batch).toMatchObject({ index: 3, of: 5, canary: false });
    expect(s.failing[0].prepare).toContain(s.host);
    expect(s.later.length).toBeGreaterThan(0);
  });

  test(`the run parks with exactly one step: prepare:<host>, naming the host`, () => {
    expect(parked.status).toBe('parked');
    expect(parked.parked).toHaveLength(1);
    expect(parked.parked[0]).toMatchObject({ id: `prepare:${s.host}`, host: s.host, part: partWorkflowId(run.runId!, s.failing[0]) });
    expect(parked.parked[0].error).toContain(s.host);
    expect(parked.steps.filter((st) => st.status === 'parked').map((st) => st.id)).toEqual([`prepare:${s.host}`]);
  });

  test('the later batches have not started: no workflow of theirs, no step of their hosts', async () => {
    const ids = s.later.map((p) => partWorkflowId(run.runId!, p));
    expect(ids.length).toBeGreaterThan(0);
    // The run lists a part once it reaches it: a later one, if listed at all, is pending.
    expect(parked.parts.filter((p) => ids.includes(p.workflowId)).filter((p) => p.status !== 'pending')).toEqual([]);
    expect(await Promise.all(ids.map((id) => exists(run.client!, id)))).toEqual(ids.map(() => false));
    const laterHosts = new Set(s.later.flatMap((p) => p.hosts));
    expect(compute.steps.filter((st) => st.host && laterHosts.has(st.host) && st.status !== 'pending')).toEqual([]);
  });

  test('the other hosts of its batch came up: every health step of theirs completed', () => {
    const others = s.failing.flatMap((p) => p.hosts).filter((h) => h !== s.host);
    const health = compute.steps.filter((st) => st.kind === 'health' && st.host && others.includes(st.host));
    expect(health).toHaveLength(s.containersOn(others).length);
    expect(health.filter((st) => st.status !== 'completed')).toEqual([]);
    // The failing host's containers wait for its preparation.
    const mine = compute.steps.filter((st) => st.host === s.host && st.kind !== 'prepare');
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.filter((st) => st.status !== 'pending')).toEqual([]);
  });

  test('after simulate clear, retry of the step lets the run finish: every container created', async () => {
    const cleared = await operator(['simulate', 'clear', s.host]);
    expect([cleared.code, cleared.stderr]).toEqual([0, '']);
    const retried = await operator(['retry', run.runId!, '--step', `prepare:${s.host}`, '--json']);
    expect([retried.code, retried.code ? `${retried.stderr}${retried.stdout.slice(-4000)}` : '']).toEqual([0, '']);
    const summary = lastJsonLine<RunJson>(retried.stdout);
    expect(summary.status).toBe('completed');
    expect(summary.containers).toEqual({ created: s.totalContainers, recreated: 0, unchanged: 0 });
    expect(summary.decisions.map((d) => [d.action, d.step])).toEqual([['retry', `prepare:${s.host}`]]);
    const after = await status(run.runId!);
    expect(after.status).toBe('completed');
    const laterIds = s.later.map((p) => partWorkflowId(run.runId!, p));
    expect(after.parts.filter((p) => laterIds.includes(p.workflowId)).map((p) => [p.workflowId, p.status])).toEqual(laterIds.map((id) => [id, 'completed']));
    expect(after.steps.find((st) => st.id === `prepare:${s.host}`)?.status).toBe('completed');
  });
});

describe('one permanent failure at scale, resolved with skip --force (a smaller run)', () => {
  const run = parkedScaleRun(40, 'skipped');
  const { s } = run;

  test('skip without --force is refused (the host runs containers); with --force the run completes without them', async () => {
    const refused = await operator(['skip', run.runId!, '--step', `prepare:${s.host}`, '--json']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('--force');
    const skipped = await operator(['skip', run.runId!, '--step', `prepare:${s.host}`, '--force', '--json']);
    expect([skipped.code, skipped.code ? `${skipped.stderr}${skipped.stdout.slice(-4000)}` : '']).toEqual([0, '']);
    const summary = lastJsonLine<RunJson>(skipped.stdout);
    expect(summary.status).toBe('completed');
    const mine = s.containersOn([s.host]).length;
    expect(mine).toBeGreaterThan(0);
    expect(summary.containers).toEqual({ created: s.totalContainers - mine, recreated: 0, unchanged: 0 });
    const view = await status(run.runId!, '--host', s.host);
    expect(view.status).toBe('completed');
    expect(view.steps.find((st) => st.id === `prepare:${s.host}`)?.status).toBe('skipped');
    const containerSteps = view.steps.filter((st) => st.kind === 'start' || st.kind === 'health');
    expect(containerSteps).toHaveLength(2 * mine);
    expect(containerSteps.filter((st) => st.status !== 'skipped')).toEqual([]);
    const laterIds = s.later.map((p) => partWorkflowId(run.runId!, p));
    expect((await status(run.runId!)).parts.filter((p) => laterIds.includes(p.workflowId)).map((p) => p.status)).toEqual(laterIds.map(() => 'completed'));
  });
});
