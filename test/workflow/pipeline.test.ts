// Workflow logic on the real Temporal dev server binary, with stubbed activities (no Docker, no SSH).
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Runtime, DefaultLogger, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type * as activities from '../../activities';
import type { BuildRequest } from '../../model/activity-types';
import type { Plan, PlannedContainer, PlannedImage } from '../../model/plan';
import { expandSteps, type Decision, type PartResult, type RunSummary, type Step } from '../../model/steps';
import { compactPlan } from '../../model/compact-plan';
import { PartReader } from '../../cli/run-steps';
import { DEFAULT_CONCURRENCY, DEFAULT_ROLLOUT } from '../../model/types';
import { decideUpdate, runSummaryQuery, SEARCH_ATTRIBUTES } from '../../model/shared';
import { deployPipeline } from '../../workflows';
import { temporalCli } from '../helpers/temporal';

jest.setTimeout(120000);
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCli() }, searchAttributes: [{ name: 'ReleaseTag', type: 'KEYWORD' }, { name: 'Topology', type: 'KEYWORD' }, { name: 'Initiator', type: 'KEYWORD' }, { name: 'RunStatus', type: 'KEYWORD' }] as never },
  });
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('ERROR') });
});
afterAll(async () => {
  await env?.teardown();
});

const image = (name: string, parent: string | null): PlannedImage => ({
  name, contextDir: `/ctx/${name}`, dockerfile: 'Dockerfile', parent, base: parent ? null : 'busybox:local', level: parent ? 1 : 0, labels: {}, buildArgs: {}, repository: `reg:5000/${name}`,
});
const container = (name: string, img: string, stage: string, host = 'h1'): PlannedContainer => ({
  name, service: name, host, hostAddress: '10.0.0.1', image: img, stage, env: {}, volumes: [], privileged: false, capAdd: [], labels: {}, health: { tcp: 1, timeoutSeconds: 1 }, standin: null, command: null,
});
function plan(images: PlannedImage[], stages: { name: string; containers: PlannedContainer[] }[], concurrency = DEFAULT_CONCURRENCY): Plan {
  return {
    topology: 't', topologyFile: '/t.yaml', release: 'r1',
    registry: { address: 'reg:5000', ca: null, username: 'u', password: { secret: 'PW' } },
    ssh: { user: 'root', keyFile: null, knownHosts: '/kh' },
    images,
    hosts: [{ name: 'h1', address: '10.0.0.1', sshPort: 22, roles: [], directories: [], kernelModules: [] }],
    stages,
    concurrency,
    // Failures fail at once here; the parking tests set a park timeout of their own.
    rollout: { ...DEFAULT_ROLLOUT, parkTimeoutSeconds: 0 },
  };
}

/** Stub activities that record the order of events. */
interface StubOptions {
  failBuild?: string;
  failHealth?: string;
  inRegistry?: string[];
  quorumFrom?: (hosts: string[]) => string[];
  /** What the hosts already run (by container name); the survey reports nothing else. */
  running?: Record<string, { imageRef: string; healthy: boolean; inQuorum?: boolean }>;
  failSurvey?: boolean;
  /** A host whose preparation fails (a kernel module it lacks). */
  failPrepare?: string;
}

function stubs(events: string[], opts: StubOptions = {}): typeof activities {
  const tick = () => new Promise((r) => setTimeout(r, 20));
  return {
    async lookupImage(req: BuildRequest) {
      events.push(`lookup ${req.image.name}`);
      const found = opts.inRegistry?.includes(req.image.name);
      return { image: req.image.name, inputHash: `h-${req.image.name}`, ref: found ? `reg:5000/${req.image.name}@sha256:old-${req.image.name}` : null };
    },
    async lookupImages(req) {
      events.push('lookup tree');
      // Each root, then the children of what the registry holds, as the real one walks the tree.
      const results: Record<string, { image: string; inputHash: string; ref: string | null }> = {};
      const visit = (name: string) => {
        const found = opts.inRegistry?.includes(name);
        results[name] = { image: name, inputHash: `h-${name}`, ref: found ? `reg:5000/${name}@sha256:old-${name}` : null };
        if (found) req.images.filter((i) => i.parent === name).forEach((i) => visit(i.name));
      };
      req.images.filter((i) => !i.parent).forEach((i) => visit(i.name));
      return results;
    },
    async publishRelease(req) {
      events.push(`publish ${req.release} ${Object.keys(req.digests).sort().join(',')}`);
      return { release: req.release, moved: Object.keys(req.digests), unchanged: [] };
    },
    async buildImage(req: BuildRequest) {
      events.push(`build ${req.image.name} from ${req.parentRef ?? req.image.base}`);
      await tick();
      if (req.image.name === opts.failBuild) throw ApplicationFailure.nonRetryable(`build of ${req.image.name} failed: RUN false`, 'BuildFailed');
      return { image: req.image.name, tag: `${req.image.repository}:r1`, imageId: `id-${req.image.name}`, inputHash: 'h', skipped: false, logFile: `/logs/${req.image.name}.log` };
    },
    async pushImage(req) {
      await tick();
      events.push(`pushed ${req.image}`);
      return { image: req.image, digest: `sha256:${req.image}`, ref: `reg:5000/${req.image}@sha256:${req.image}` };
    },
    async pullImages(req) {
      events.push(`pull ${req.host.name} ${req.imageRefs.join(',')}`);
      return { host: req.host.name, pulled: req.imageRefs, present: [] };
    },
    async prepareHost(req) {
      events.push(`prepare ${req.host.name}`);
      if (req.host.name === opts.failPrepare) throw ApplicationFailure.nonRetryable(`host ${req.host.name}: the kernel lacks module "vrouter"`, 'KernelModuleMissing');
      return { host: req.host.name, dockerVersion: '20.10', items: [] };
    },
    async startContainer(req) {
      events.push(`start ${req.container.name} ${req.imageRef}`);
      return { container: req.container.name, host: req.container.host, id: 'x', outcome: 'created' as const };
    },
    async checkHealth(req) {
      await tick();
      if (req.container.name === opts.failHealth || `${req.container.name}@${req.container.host}` === opts.failHealth) throw ApplicationFailure.nonRetryable(`health gate: ${req.container.name} did not answer`, 'HealthGateTimeout');
      events.push(`healthy ${req.container.name}`);
      return { container: req.container.name, host: req.container.host, answeredAfterMs: 1 };
    },
    async surveyHost(req) {
      events.push(`survey ${req.host.name} ${req.containers.map((c) => c.name).join(',')}`);
      if (opts.failSurvey) throw ApplicationFailure.nonRetryable(`host ${req.host.name}: step survey containers: refused`, 'ContainerRejected');
      return {
        host: req.host.name,
        containers: req.containers.map((c) => ({ container: c.name, imageRef: null, healthy: false, ...opts.running?.[c.name] })),
      };
    },
    async checkQuorum(req) {
      const hosts = req.healthy.map((m) => m.host.name).sort();
      events.push(`quorum ${req.service} asked ${hosts.join(',')} need ${req.need}`);
      const inQuorum = (opts.quorumFrom ?? ((h: string[]) => h))(hosts);
      if (inQuorum.length < req.need) throw ApplicationFailure.nonRetryable(`quorum gate: ${req.service} has no quorum`, 'QuorumNotReached');
      return { service: req.service, inQuorum };
    },
    async removeOrphans(req) {
      events.push(`orphans ${req.host.name}`);
      return { host: req.host.name, removed: [] };
    },
    // Never called here: these stubs keep no replaced container (StartResult.previous).
    async restorePrevious(req) {
      return { container: req.container.name, host: req.container.host, id: req.previous, outcome: 'unchanged' as const };
    },
    async discardPrevious() {},
  };
}

/** Runs fn while a deploy worker (workflow + activities) and a build worker serve queues of this test's own. */
async function withWorkers<T>(acts: typeof activities, id: string, fn: (start: () => Promise<WorkflowHandle<typeof deployPipeline>>) => Promise<T>, p?: Plan): Promise<T> {
  const queues = { build: `${id}-build`, deploy: `${id}-deploy` };
  const [deploy, build] = await Promise.all([
    Worker.create({ connection: env.nativeConnection, taskQueue: queues.deploy, workflowBundle: bundle, activities: acts }),
    Worker.create({ connection: env.nativeConnection, taskQueue: queues.build, activities: acts }),
  ]);
  const start = () => env.client.workflow.start(deployPipeline, { taskQueue: queues.deploy, workflowId: id, args: [{ runId: id, plan: compactPlan(p!), queues }], typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.status, value: 'running' }] });
  return deploy.runUntil(build.runUntil(fn(start)));
}

/** A run's summary with its steps, read from its parts as `status` reads them. */
type Run = RunSummary & { steps: Step[] };
async function withSteps(summary: RunSummary): Promise<Run> {
  return { ...summary, steps: await new PartReader(env.client.workflow).steps(summary) };
}
/** The summary a failed run carries in its failure, with its steps. */
async function failedRun(error: unknown): Promise<Run> {
  return withSteps(((error as WorkflowFailedError).cause as ApplicationFailure).details?.[0] as RunSummary);
}

async function runPipeline(p: Plan, acts: typeof activities, id: string): Promise<Run> {
  return withWorkers(acts, id, async (start) => withSteps(await (await start()).result()), p);
}

test('each sub builds after its own parent is pushed, on exactly that digest; services wait for their image', async () => {
  const events: string[] = [];
  const p = plan([image('a', null), image('b', 'a'), image('c', null), image('d', 'c')], [{ name: 'common', containers: [container('svc-b', 'b', 'common')] }]);
  const summary = await runPipeline(p, stubs(events), 'wf-order');
  expect(summary.status).toBe('completed');
  expect(events).toContain('build b from reg:5000/a@sha256:a');
  expect(events).toContain('build d from reg:5000/c@sha256:c');
  expect(events.indexOf('pushed a')).toBeLessThan(events.indexOf('build b from reg:5000/a@sha256:a'));
  expect(events.indexOf('pushed b')).toBeLessThan(events.indexOf('start svc-b reg:5000/b@sha256:b'));
  expect(summary.images).toEqual({ built: 4, skipped: 0, failed: 0, blocked: 0 });
  expect(summary.containers.created).toBe(1);
  expect(summary.digests.b).toBe('reg:5000/b@sha256:b');
  const kinds = new Set(summary.steps.map((s) => s.kind));
  expect([...kinds].sort()).toEqual(['build', 'health', 'prepare', 'publish', 'pull', 'push', 'start', 'survey']);
  // The host pulled what it runs ahead of its stage, after the push.
  expect(events.indexOf('pull h1 reg:5000/b@sha256:b')).toBeGreaterThan(events.indexOf('pushed b'));
  for (const s of summary.steps) expect(s.status).toBe('completed');
  // The release tag moves once, after the last push, for the whole set.
  expect(events.filter((e) => e.startsWith('publish'))).toEqual(['publish r1 a,b,c,d']);
  expect(events.indexOf('publish r1 a,b,c,d')).toBeGreaterThan(Math.max(...['a', 'b', 'c', 'd'].map((n) => events.indexOf(`pushed ${n}`))));
  expect(summary.releaseTag).toEqual({ tag: 'r1', moved: true, changed: 4 });
  // While what runs may settle it, the first stage's part starts with the image tree: its host is surveyed and
  // prepared while the image builds, and its container starts once the image is pushed (above).
  expect(events.findIndex((e) => e.startsWith('survey h1'))).toBeLessThan(events.indexOf('pushed b'));
  expect(events.indexOf('prepare h1')).toBeLessThan(events.indexOf('pushed b'));
  // The run's parts are child workflows named for what they do: the image tree, and each stage's hosts.
  const children = await childWorkflows(env.client.workflow.getHandle('wf-order'));
  expect(children.sort((x, y) => x.id.localeCompare(y.id))).toEqual([{ id: 'wf-order/images', status: 'COMPLETED' }, { id: 'wf-order/stage/common', status: 'COMPLETED' }]);
  expect(summary.parts.map((p) => [p.workflowId, p.status, p.steps])).toEqual([
    ['wf-order/images', 'completed', { completed: 9 }],
    ['wf-order/stage/common', 'completed', { completed: 5 }],
  ]);
});

test('an image the registry already holds (same input hash) is neither built nor pushed; its child builds FROM that digest', async () => {
  const events: string[] = [];
  const p = plan([image('a', null), image('b', 'a'), image('c', 'a')], []);
  const summary = await runPipeline(p, stubs(events, { inRegistry: ['a', 'c'] }), 'wf-registry-skip');
  expect(summary.status).toBe('completed');
  expect(events.filter((e) => e.startsWith('build') || e.startsWith('pushed'))).toEqual(['build b from reg:5000/a@sha256:old-a', 'pushed b']);
  expect(summary.images).toEqual({ built: 1, skipped: 2, failed: 0, blocked: 0 });
  expect(summary.digests).toEqual({ a: 'reg:5000/a@sha256:old-a', b: 'reg:5000/b@sha256:b', c: 'reg:5000/c@sha256:old-c' });
  expect(summary.steps.find((s) => s.id === 'push:c')).toMatchObject({ status: 'skipped', detail: 'reg:5000/c@sha256:old-c' });
  expect(events).toContain('publish r1 a,b,c');
  // One lookup of the whole tree answered for all three.
  expect(events.filter((e) => e.startsWith('lookup'))).toEqual(['lookup tree']);
});

test('an image under a rebuilt parent is looked up on its own, with the new parent; a failed tree lookup falls back to that', async () => {
  const p = plan([image('a', null), image('b', 'a'), image('d', 'b')], []);
  const events: string[] = [];
  const summary = await runPipeline(p, stubs(events, { inRegistry: ['a', 'd'] }), 'wf-tree-lookup');
  expect(summary.images).toEqual({ built: 1, skipped: 2, failed: 0, blocked: 0 });
  expect(events.filter((e) => e.startsWith('lookup'))).toEqual(['lookup tree', 'lookup d']);
  expect(events.indexOf('lookup d')).toBeGreaterThan(events.indexOf('pushed b'));

  const fallback: string[] = [];
  const acts = stubs(fallback, { inRegistry: ['a', 'b', 'd'] });
  acts.lookupImages = async () => {
    fallback.push('lookup tree');
    throw ApplicationFailure.nonRetryable('lookup of a: the registry refused the credentials', 'RegistryAuthFailed');
  };
  const again = await runPipeline(p, acts, 'wf-tree-lookup-failed');
  expect(again.images).toEqual({ built: 0, skipped: 3, failed: 0, blocked: 0 });
  expect(fallback.filter((e) => e.startsWith('lookup'))).toEqual(['lookup tree', 'lookup a', 'lookup b', 'lookup d']);
});

test('a failed build blocks its children; other branches finish; the run fails naming the step', async () => {
  const events: string[] = [];
  const p = plan([image('a', null), image('b', 'a'), image('c', null), image('d', 'c')], []);
  const error = await runPipeline(p, stubs(events, { failBuild: 'a' }), 'wf-fail').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowFailedError);
  const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
  expect(failure.message).toContain('step build:a failed: build of a failed: RUN false');
  const summary = await failedRun(error);
  expect(summary.images).toEqual({ built: 2, skipped: 0, failed: 1, blocked: 1 });
  expect(summary.steps.find((s) => s.id === 'build:b')?.status).toBe('blocked');
  expect(events).toContain('pushed d');
  expect(events.some((e) => e.startsWith('build b'))).toBe(false);
  // No partial release: the tag stays where it was.
  expect(events.some((e) => e.startsWith('publish'))).toBe(false);
  expect(summary.releaseTag).toEqual({ tag: 'r1', moved: false });
  expect(summary.steps.find((s) => s.id === 'publish:r1')?.status).toBe('blocked');
});

test('a stage starts only when every container of the previous stage is healthy; a failed gate stops later stages', async () => {
  const events: string[] = [];
  const p = plan([image('a', null)], [
    { name: 'common', containers: [container('one', 'a', 'common'), container('two', 'a', 'common')] },
    { name: 'database', containers: [container('three', 'a', 'database')] },
  ]);
  const summary = await runPipeline(p, stubs(events), 'wf-stages');
  const startThree = events.findIndex((e) => e.startsWith('start three'));
  expect(startThree).toBeGreaterThan(events.indexOf('healthy one'));
  expect(startThree).toBeGreaterThan(events.indexOf('healthy two'));
  expect(summary.stageOrder).toEqual(['common', 'database']);

  const events2: string[] = [];
  const error = await runPipeline(p, stubs(events2, { failHealth: 'one' }), 'wf-gate').catch((e: unknown) => e);
  const summary2 = await failedRun(error);
  expect(summary2.failedStep?.id).toBe('health:one@h1');
  // The next stage's part never started: it is recorded as blocked, with why.
  expect(summary2.parts.find((p) => p.stage === 'database')).toMatchObject({ status: 'blocked', detail: 'an earlier stage failed', hosts: 1 });
  expect(summary2.steps.some((s) => s.stage === 'database')).toBe(false);
  expect(events2.some((e) => e.startsWith('start three'))).toBe(false);
});

test('builds and pushes have separate limits from the topology, and each limit is used in full', async () => {
  let builds = 0;
  let pushes = 0;
  const peak = { builds: 0, pushes: 0 };
  const events: string[] = [];
  const base = stubs(events);
  const slow = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const acts: typeof activities = {
    ...base,
    async buildImage(req) {
      peak.builds = Math.max(peak.builds, ++builds);
      await slow(150);
      builds--;
      return base.buildImage(req);
    },
    async pushImage(req) {
      peak.pushes = Math.max(peak.pushes, ++pushes);
      await slow(100);
      pushes--;
      return base.pushImage(req);
    },
  };
  const images = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => image(n, null));
  const summary = await runPipeline(plan(images, [], { builds: 3, pushes: 1, hosts: 5 }), acts, 'wf-limits');
  expect(summary.images.built).toBe(6);
  expect(peak).toEqual({ builds: 3, pushes: 1 });
  // A step's time is its own: it starts when its slot is free, not when it was queued.
  const durations = summary.steps.filter((s) => s.kind === 'build').map((s) => Date.parse(s.endTime!) - Date.parse(s.startTime!));
  expect(Math.max(...durations)).toBeLessThan(1000);
});

test('compute hosts roll out in batches: the canary first, then a share at a time; a failed batch stops the next', async () => {
  const hosts = ['c1', 'c2', 'c3', 'c4'];
  const computePlan = (): Plan => {
    const p = plan([image('a', null)], [
      { name: 'control', containers: [container('ctl', 'a', 'control')] },
      { name: 'compute', containers: hosts.map((h) => container(`vr-${h}`, 'a', 'compute', h)) },
    ]);
    return { ...p, hosts: [...p.hosts, ...hosts.map((h) => ({ ...p.hosts[0], name: h }))], rollout: { computeCanary: 1, computeBatchPercent: 50, parkTimeoutSeconds: 0 } };
  };
  const events: string[] = [];
  const summary = await runPipeline(computePlan(), stubs(events), 'wf-batches');
  const at = (e: string) => events.findIndex((x) => x.startsWith(e));
  expect(at('start vr-c2')).toBeGreaterThan(at('healthy vr-c1'));
  expect(at('start vr-c3')).toBeGreaterThan(at('healthy vr-c1'));
  expect(at('start vr-c4')).toBeGreaterThan(Math.max(at('healthy vr-c2'), at('healthy vr-c3')));
  // c2 and c3 form one batch: both start before either is healthy.
  expect(Math.max(at('start vr-c2'), at('start vr-c3'))).toBeLessThan(Math.min(at('healthy vr-c2'), at('healthy vr-c3')));
  expect(summary.steps.find((s) => s.id === 'start:vr-c1@c1')?.batch).toBe('compute batch 1 of 3 (canary)');
  expect(summary.parts.map((p) => p.workflowId)).toEqual(['wf-batches/images', 'wf-batches/stage/control', 'wf-batches/stage/compute/batch-1-of-3', 'wf-batches/stage/compute/batch-2-of-3', 'wf-batches/stage/compute/batch-3-of-3']);

  const events2: string[] = [];
  const error = await runPipeline(computePlan(), stubs(events2, { failHealth: 'vr-c3' }), 'wf-batch-fail').catch((e: unknown) => e);
  const failed = await failedRun(error);
  expect(failed.failedStep?.id).toBe('health:vr-c3@c3');
  expect(events2.some((e) => e.startsWith('start vr-c4'))).toBe(false);
  expect(failed.parts.find((p) => p.workflowId === 'wf-batch-fail/stage/compute/batch-3-of-3')).toMatchObject({ status: 'blocked', detail: 'compute batch 2 of 3 failed', hosts: 1 });
});

test('a host whose preparation is skipped (--force): its containers are skipped, its batch and the later ones go on, the run completes', async () => {
  const hosts = ['c1', 'c2', 'c3', 'c4'];
  const p = plan([image('a', null)], [{ name: 'compute', containers: hosts.map((h) => container(`vr-${h}`, 'a', 'compute', h)) }]);
  const computePlan: Plan = { ...p, hosts: hosts.map((h) => ({ ...p.hosts[0], name: h })), rollout: { computeCanary: 1, computeBatchPercent: 50, parkTimeoutSeconds: 3600 } };
  const events: string[] = [];
  await withWorkers(stubs(events, { failPrepare: 'c2' }), 'wf-skip-host', async (start) => {
    const h = await start();
    await waitForSummary(h, (s) => s.parked?.[0]?.id === 'prepare:c2');
    const refused = await h.executeUpdate(decideUpdate, { args: [{ action: 'skip', step: 'prepare:c2' }] }).then(() => 'accepted', (e: Error & { cause?: Error }) => e.cause?.message ?? e.message);
    expect(refused).toMatch(/has dependents \(start:vr-c2@c2\).*--force/);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'skip', step: 'prepare:c2', force: true }] });
    const done = await withSteps(await h.result());
    expect(done.status).toBe('completed');
    expect(done.steps.find((x) => x.id === 'start:vr-c2@c2')).toMatchObject({ status: 'skipped', detail: 'not started: the preparation of c2 was skipped by an operator' });
    expect(done.steps.find((x) => x.id === 'pull:compute@c2')?.status).toBe('skipped');
    // The other host of its batch and the last batch came up.
    for (const c of ['vr-c3', 'vr-c4']) expect(events).toContain(`healthy ${c}`);
    expect(done.parts.map((x) => x.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(done.steps.filter((x) => x.status === 'pending')).toEqual([]);
  }, computePlan);
});

// --- Parking: a step that still fails waits for an operator decision; independent branches go on.

/** Build stubs where image a fails until `fixed()` is called. */
function failingUntilFixed(events: string[]) {
  let broken = true;
  const base = stubs(events);
  const acts: typeof activities = {
    ...base,
    async buildImage(req) {
      if (req.image.name === 'a' && broken) throw ApplicationFailure.nonRetryable('build of a failed: RUN false', 'BuildFailed');
      return base.buildImage(req);
    },
  };
  return { acts, fix: () => (broken = false) };
}
const parkingPlan = (timeout: number, stages: { name: string; containers: PlannedContainer[] }[] = []) => ({
  ...plan([image('a', null), image('b', 'a'), image('c', null), image('d', 'c')], stages),
  rollout: { ...DEFAULT_ROLLOUT, parkTimeoutSeconds: timeout },
});
async function waitForSummary(h: WorkflowHandle<typeof deployPipeline>, ok: (s: Run) => boolean): Promise<Run> {
  for (let i = 0; i < 200; i++) {
    const q = await h.query(runSummaryQuery).catch(() => undefined);
    const s = q && (await withSteps(q));
    if (s && ok(s)) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the run never reached the expected state');
}

/** The run's child workflows in start order, with how each ended. */
async function childWorkflows(h: WorkflowHandle): Promise<{ id: string; status: string }[]> {
  const history = await h.fetchHistory();
  const ids = (history.events ?? []).flatMap((e) => (e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId ? [e.childWorkflowExecutionStartedEventAttributes.workflowExecution.workflowId] : []));
  return Promise.all(ids.map(async (id) => ({ id, status: (await env.client.workflow.getHandle(id).describe()).status.name })));
}

test('a failed step parks (other branches finish); skip of a step with dependents is refused; retry completes the run', async () => {
  const events: string[] = [];
  const { acts, fix } = failingUntilFixed(events);
  await withWorkers(acts, 'wf-park-retry', async (start) => {
    const h = await start();
    const parked = await waitForSummary(h, (s) => s.status === 'parked' && s.steps.find((x) => x.id === 'push:d')?.status === 'completed');
    expect(parked.parked).toEqual([expect.objectContaining({ id: 'build:a', error: 'build of a failed: RUN false' })]);
    expect(parked.steps.find((x) => x.id === 'build:a')?.status).toBe('parked');
    expect((await h.describe()).typedSearchAttributes.get(SEARCH_ATTRIBUTES.status)).toBe('parked');
    const refused = (d: Decision) => h.executeUpdate(decideUpdate, { args: [d] }).then(() => 'accepted', (e: Error & { cause?: Error }) => e.cause?.message ?? e.message);
    expect(await refused({ action: 'skip', step: 'build:a' })).toMatch(/has dependents \(build:b\).*--force/);
    expect(await refused({ action: 'retry', step: 'build:c' })).toMatch(/build:c is not parked \(parked: build:a\)/);
    fix();
    expect(await h.executeUpdate(decideUpdate, { args: [{ action: 'retry', by: 'alice' }] })).toEqual({ steps: ['build:a'], action: 'retry' });
    const done = await withSteps(await h.result());
    expect(done.status).toBe('completed');
    expect(done.images).toEqual({ built: 4, skipped: 0, failed: 0, blocked: 0 });
    expect(done.decisions).toEqual([expect.objectContaining({ action: 'retry', step: 'build:a', by: 'alice' })]);
    expect((await h.describe()).typedSearchAttributes.get(SEARCH_ATTRIBUTES.status)).toBe('completed');
    // The decision went to the run and reached the part where the step waited; the retried build ran again there.
    expect(await childWorkflows(h)).toEqual([{ id: 'wf-park-retry/images', status: 'COMPLETED' }]);
    expect(done.steps.find((x) => x.id === 'build:a')).toMatchObject({ status: 'completed', detail: 'built id-a' });
    expect(events.filter((e) => e === 'build a from busybox:local')).toHaveLength(1);
  }, parkingPlan(3600));
});

test('abort fails the parked step: its children are blocked and the run fails with the record', async () => {
  const { acts } = failingUntilFixed([]);
  await withWorkers(acts, 'wf-park-abort', async (start) => {
    const h = await start();
    await waitForSummary(h, (s) => s.status === 'parked');
    await h.executeUpdate(decideUpdate, { args: [{ action: 'abort' }] });
    const error = await h.result().catch((e: unknown) => e);
    const summary = await failedRun(error);
    expect(summary.failedStep).toEqual({ id: 'build:a', message: 'build of a failed: RUN false' });
    expect(summary.steps.find((x) => x.id === 'build:b')?.status).toBe('blocked');
    expect(summary.parked).toEqual([]);
  }, parkingPlan(3600));
});

test('a parked step waits at most the park timeout, then the run fails cleanly with the same record', async () => {
  const { acts } = failingUntilFixed([]);
  const error = await runPipeline(parkingPlan(2), acts, 'wf-park-timeout').catch((e: unknown) => e);
  const summary = await failedRun(error);
  expect(summary.failedStep).toEqual({ id: 'build:a', message: 'build of a failed: RUN false' });
  const a = summary.steps.find((x) => x.id === 'build:a')!;
  expect(Date.parse(a.endTime!) - Date.parse(a.startTime!)).toBeGreaterThanOrEqual(2000);
});

test('skipping a failed health gate lets the next stage start', async () => {
  const events: string[] = [];
  const p = { ...plan([image('a', null)], [
    { name: 'common', containers: [container('one', 'a', 'common')] },
    { name: 'database', containers: [container('two', 'a', 'database')] },
  ]), rollout: { ...DEFAULT_ROLLOUT, parkTimeoutSeconds: 3600 } };
  await withWorkers(stubs(events, { failHealth: 'one' }), 'wf-park-skip', async (start) => {
    const h = await start();
    await waitForSummary(h, (s) => s.parked?.[0]?.id === 'health:one@h1');
    expect(events.some((e) => e.startsWith('start two'))).toBe(false);
    await h.executeUpdate(decideUpdate, { args: [{ action: 'skip', step: 'health:one@h1' }] });
    const done = await withSteps(await h.result());
    expect(done.status).toBe('completed');
    expect(events).toContain('healthy two');
    expect(done.steps.find((x) => x.id === 'health:one@h1')).toMatchObject({ status: 'skipped', detail: expect.stringContaining('skipped by an operator') });
  }, p);
});

describe('quorum gates for clustered services', () => {
  const member = (host: string) => ({ ...container('zk', 'a', 'database', host), quorum: { command: ['zk-in-quorum'] } });
  const quorumPlan = (): Plan => ({
    ...plan([image('a', null)], [
      { name: 'database', containers: ['h1', 'h2', 'h3'].map(member) },
      { name: 'config', containers: [container('api', 'a', 'config')] },
    ]),
    hosts: ['h1', 'h2', 'h3'].map((name) => ({ name, address: '10.0.0.1', sshPort: 22, roles: [], directories: [], kernelModules: [] })),
    rollout: { ...DEFAULT_ROLLOUT, parkTimeoutSeconds: 3600 },
  });

  test('one member of three fails: the quorum (2 of 3) lets the next stage go on while that member parks', async () => {
    const events: string[] = [];
    await withWorkers(stubs(events, { failHealth: 'zk@h3' }), 'wf-quorum-minority', async (start) => {
      const h = await start();
      const parked = await waitForSummary(h, (s) => s.status === 'parked' && s.steps.find((x) => x.id === 'health:api@h1')?.status === 'completed');
      expect(parked.parked?.map((p) => p.id)).toEqual(['health:zk@h3']);
      expect(parked.steps.find((x) => x.id === 'quorum:zk')).toMatchObject({ kind: 'quorum', stage: 'database', status: 'completed', detail: '2 of 3 members in quorum (h1, h2), 2 needed' });
      expect(events).toContain('quorum zk asked h1,h2 need 2');
      expect(events.indexOf('quorum zk asked h1,h2 need 2')).toBeLessThan(events.indexOf('start api reg:5000/a@sha256:a'));
      // The run still waits for the member: aborting it fails the run, naming it.
      await h.executeUpdate(decideUpdate, { args: [{ action: 'abort' }] });
      const error = await h.result().catch((e: unknown) => e);
      expect(((error as WorkflowFailedError).cause as ApplicationFailure).details?.[0]).toMatchObject({ status: 'failed', failedStep: { id: 'health:zk@h3' } });
    }, quorumPlan());
  });

  test("a member whose host's preparation is skipped counts against the quorum; a skipped gate counts as the operator says: healthy", async () => {
    const events: string[] = [];
    await withWorkers(stubs(events, { failPrepare: 'h3', failHealth: 'zk@h2' }), 'wf-quorum-skips', async (start) => {
      const h = await start();
      await waitForSummary(h, (s) => (s.parked ?? []).length === 2);
      await h.executeUpdate(decideUpdate, { args: [{ action: 'skip', step: 'prepare:h3', force: true }] });
      await h.executeUpdate(decideUpdate, { args: [{ action: 'skip', step: 'health:zk@h2' }] });
      const done = await withSteps(await h.result());
      expect(done.status).toBe('completed');
      // h1 healthy, h2's gate skipped (healthy by the operator's word), h3 never started: 2 of 3.
      expect(events).toContain('quorum zk asked h1,h2 need 2');
      expect(done.steps.find((x) => x.id === 'start:zk@h3')?.status).toBe('skipped');
      expect(events).toContain('healthy api');
    }, quorumPlan());
  });

  test('a gate shut only by members an operator went without: the next stage is blocked and the run fails, naming the gate', async () => {
    const p = quorumPlan();
    const events: string[] = [];
    await withWorkers(stubs(events, { failPrepare: 'h3' }), 'wf-quorum-gone', async (start) => {
      const h = await start();
      await waitForSummary(h, (s) => s.parked?.[0]?.id === 'prepare:h3');
      // Two members: without h3, one of two is no quorum.
      await h.executeUpdate(decideUpdate, { args: [{ action: 'skip', step: 'prepare:h3', force: true }] });
      const error = await h.result().catch((e: unknown) => e);
      const failed = await failedRun(error);
      expect(failed.status).toBe('failed');
      expect(failed.failedStep?.id).toBe('quorum:zk');
      expect(failed.parts.find((x) => x.stage === 'config')).toMatchObject({ status: 'blocked' });
      expect(events.some((e) => e.startsWith('start api'))).toBe(false);
    }, { ...p, stages: [{ name: 'database', containers: ['h1', 'h3'].map(member) }, p.stages[1]] });
  });

  test('members healthy but the cluster says it has no quorum: the gate fails and the next stage is blocked', async () => {
    const events: string[] = [];
    const summary = await withWorkers(stubs(events, { quorumFrom: (hosts) => hosts.slice(0, 1) }), 'wf-quorum-none', async (start) => {
      const h = await start();
      const parked = await waitForSummary(h, (s) => s.status === 'parked');
      expect(parked.parked?.map((p) => p.id)).toEqual(['quorum:zk']);
      await h.executeUpdate(decideUpdate, { args: [{ action: 'abort' }] });
      return ((await h.result().catch((e: unknown) => e)) as WorkflowFailedError).cause as ApplicationFailure;
    }, quorumPlan());
    const s = summary.details?.[0] as RunSummary;
    expect(s.failedStep?.id).toBe('quorum:zk');
    expect(s.parts.find((p) => p.stage === 'config')).toMatchObject({ status: 'blocked' });
    expect(events.some((e) => e.startsWith('start api'))).toBe(false);
  });

  test('an operator who skips the quorum gate goes on without it: the next stage comes up', async () => {
    const events: string[] = [];
    const result = await withWorkers(stubs(events, { quorumFrom: (hosts) => hosts.slice(0, 1) }), 'wf-quorum-skip', async (start) => {
      const h = await start();
      const parked = await waitForSummary(h, (s) => s.status === 'parked');
      expect(parked.parked?.map((p) => p.id)).toEqual(['quorum:zk']);
      await h.executeUpdate(decideUpdate, { args: [{ action: 'skip', force: true }] });
      return h.result();
    }, quorumPlan());
    expect(result.status).toBe('completed');
    expect(result.decisions?.map((d) => [d.action, d.step])).toEqual([['skip', 'quorum:zk']]);
    expect(events.some((e) => e.startsWith('start api'))).toBe(true);
  });
});

describe('the host survey: what already runs as planned and answers is left alone without steps of its own', () => {
  const ref = 'reg:5000/a@sha256:old-a';
  const member = (host: string) => ({ ...container('zk', 'a', 'database', host), quorum: { command: ['zk-in-quorum'] } });
  const surveyPlan = (): Plan => ({
    ...plan([image('a', null)], [
      { name: 'common', containers: [container('db', 'a', 'common')] },
      { name: 'database', containers: ['h1', 'h2', 'h3'].map(member) },
      { name: 'config', containers: [container('api', 'a', 'config'), container('ui', 'a', 'config')] },
    ]),
    hosts: ['h1', 'h2', 'h3'].map((name) => ({ name, address: '10.0.0.1', sshPort: 22, roles: [], directories: [], kernelModules: [] })),
  });
  const everything = { db: { imageRef: ref, healthy: true }, zk: { imageRef: ref, healthy: true, inQuorum: true }, api: { imageRef: ref, healthy: true }, ui: { imageRef: ref, healthy: true } };
  const reconciled = (events: string[]) => events.filter((e) => /^(start|healthy|quorum) /.test(e));

  test('nothing changed: no start, gate or quorum step runs, and every step reads done', async () => {
    const events: string[] = [];
    const summary = await runPipeline(surveyPlan(), stubs(events, { inRegistry: ['a'], running: everything }), 'wf-survey-noop');
    expect(summary.status).toBe('completed');
    expect(reconciled(events)).toEqual([]);
    // Each host was asked once about everything it runs, all by the first part (h2 and h3 ahead of their turn); later
    // parts used those answers.
    expect(events.filter((e) => e.startsWith('survey')).sort()).toEqual(['survey h1 db,zk,api,ui', 'survey h2 zk', 'survey h3 zk']);
    expect(summary.steps.filter((s) => s.kind === 'survey').map((s) => [s.id, s.detail]).sort()).toEqual([
      ['survey:common@h1', '1 of 1 run as planned and answer; later stages: 3 of 3'],
      ['survey:common@h2', 'ahead of its turn: 1 of 1 run as planned and answer'],
      ['survey:common@h3', 'ahead of its turn: 1 of 1 run as planned and answer'],
    ]);
    expect(summary.containers).toEqual({ created: 0, recreated: 0, unchanged: 6 });
    expect(summary.steps.find((s) => s.id === 'quorum:zk')).toMatchObject({ status: 'completed', detail: '3 of 3 members in quorum (h1, h2, h3), 2 needed, at the survey' });
    // Each host was prepared once: h2 and h3 by the first part too, ahead of their turn, and their own part (database)
    // took that preparation as done instead of preparing them again at its turn.
    expect(events.filter((e) => e.startsWith('prepare')).sort()).toEqual(['prepare h1', 'prepare h2', 'prepare h3']);
    expect(summary.steps.filter((s) => s.kind === 'prepare').map((s) => [s.id, s.status, s.detail])).toEqual([
      ['prepare:h1', 'completed', 'nothing to do'],
      ['prepare:h2', 'completed', 'prepared ahead of its turn: nothing to do'],
      ['prepare:h3', 'completed', 'prepared ahead of its turn: nothing to do'],
    ]);
    for (const s of summary.steps.filter((x) => x.kind === 'start' || x.kind === 'health')) expect(s.status).toBe('completed');
    // The later stages' parts started ahead of their turn, at once, as soon as the first part's survey was in: config
    // started before database was told its turn had come.
    const history = (await env.client.workflow.getHandle('wf-survey-noop').fetchHistory()).events ?? [];
    const started = (stage: string) => history.findIndex((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId === `wf-survey-noop/stage/${stage}`);
    const toldTurn = (stage: string) => history.findIndex((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'proceed' && e.signalExternalWorkflowExecutionInitiatedEventAttributes.workflowExecution?.workflowId === `wf-survey-noop/stage/${stage}`);
    expect(started('config')).toBeGreaterThan(-1);
    expect(toldTurn('database')).toBeGreaterThan(started('config'));
  });

  test('a host whose preparation ahead of its turn fails is prepared by its own part at its turn, and fails there', async () => {
    const events: string[] = [];
    const p = { ...surveyPlan(), rollout: { ...DEFAULT_ROLLOUT, parkTimeoutSeconds: 0 } };
    const error = await runPipeline(p, stubs(events, { inRegistry: ['a'], running: everything, failPrepare: 'h3' }), 'wf-survey-prepare-ahead-fails').catch((e: unknown) => e);
    const summary = await failedRun(error);
    // Tried once ahead (no retries: it is not a step of its own), then once more by the database part, where it failed.
    expect(events.filter((e) => e === 'prepare h3')).toHaveLength(2);
    expect(summary.failedStep?.id).toBe('prepare:h3');
    expect(summary.steps.find((s) => s.id === 'prepare:h2')).toMatchObject({ status: 'completed', detail: 'prepared ahead of its turn: nothing to do' });
    // Its zk member is blocked; the other two are a quorum, so the config stage still came up.
    expect(summary.steps.find((s) => s.id === 'start:zk@h3')).toMatchObject({ status: 'blocked', detail: 'preparation of h3 failed' });
    expect(summary.parts.find((x) => x.workflowId === 'wf-survey-prepare-ahead-fails/stage/database')).toMatchObject({ status: 'failed' });
    expect(summary.parts.find((x) => x.workflowId === 'wf-survey-prepare-ahead-fails/stage/config')).toMatchObject({ status: 'completed' });
  });

  test('a part started ahead of its turn whose turn never comes: its steps are blocked and none of them runs', async () => {
    const events: string[] = [];
    const running = { ...everything, zk: { imageRef: 'reg:5000/a@sha256:older', healthy: true, inQuorum: true } };
    const p = { ...surveyPlan(), rollout: { ...DEFAULT_ROLLOUT, parkTimeoutSeconds: 0 } };
    const error = await runPipeline(p, stubs(events, { inRegistry: ['a'], running, quorumFrom: () => [] }), 'wf-survey-ahead-blocked').catch((e: unknown) => e);
    const summary = await failedRun(error);
    expect(summary.failedStep?.id).toBe('quorum:zk');
    expect(summary.parts.find((x) => x.workflowId === 'wf-survey-ahead-blocked/stage/config')).toMatchObject({ status: 'blocked' });
    expect(events.filter((e) => e.startsWith('start api') || e.startsWith('start ui'))).toEqual([]);
    // Its own record (the UI's view of it) has every step blocked, saying why.
    const part = (await env.client.workflow.getHandle('wf-survey-ahead-blocked/stage/config').result()) as PartResult;
    expect(expandSteps(part).map((x) => [x.id, x.status, x.detail])).toEqual(['pull:config@h1', 'start:api@h1', 'health:api@h1', 'start:ui@h1', 'health:ui@h1'].map((id) => [id, 'blocked', 'an earlier stage failed']));
  });

  test('a container running an older image: its stage and every later one go through start and gate again, in order', async () => {
    const events: string[] = [];
    const running = { ...everything, zk: { imageRef: 'reg:5000/a@sha256:older', healthy: true, inQuorum: true } };
    const summary = await runPipeline(surveyPlan(), stubs(events, { inRegistry: ['a'], running }), 'wf-survey-changed');
    expect(summary.status).toBe('completed');
    // common was settled by the survey; database and config were reconciled and gated, config after zk's quorum.
    expect(events.some((e) => e.startsWith('start db'))).toBe(false);
    expect(events.filter((e) => e.startsWith('start zk'))).toHaveLength(3);
    expect(events.filter((e) => e.startsWith('start api') || e.startsWith('start ui'))).toHaveLength(2);
    expect(events.findIndex((e) => e.startsWith('start api'))).toBeGreaterThan(events.indexOf('quorum zk asked h1,h2,h3 need 2'));
  });

  test('a member out of quorum, an unhealthy container, or a failed survey: the usual steps run', async () => {
    const cases: [string, StubOptions][] = [
      ['wf-survey-quorum', { running: { ...everything, zk: { imageRef: ref, healthy: true, inQuorum: false } } }],
      ['wf-survey-unhealthy', { running: { ...everything, db: { imageRef: ref, healthy: false } } }],
      ['wf-survey-failed', { running: everything, failSurvey: true }],
    ];
    for (const [id, opts] of cases) {
      const events: string[] = [];
      const summary = await runPipeline(surveyPlan(), stubs(events, { inRegistry: ['a'], ...opts }), id);
      expect([id, summary.status]).toEqual([id, 'completed']);
      expect([id, events.filter((e) => e.startsWith('start api'))]).toEqual([id, [`start api ${ref}`]]);
      if (opts.failSurvey) expect(summary.steps.find((s) => s.id === 'survey:common@h1')).toMatchObject({ status: 'skipped', detail: expect.stringContaining('survey failed') });
    }
  });
});
