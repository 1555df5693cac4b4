// The ordering rules of an upgrade, on the real Temporal dev server binary with stubbed host activities: a cluster's
// members one at a time (each after its gate and the cluster's quorum again), rollout.maxUnavailable instances of a
// service at once, a single instance in place with its downtime; a failed replacement restores the old container
// and blocks the service's other instances; `rollout.upgrade: recreate` replaces everything at once (as before).
// Runs are rollbacks (refs given, nothing built), which also proves that a rollback builds nothing.
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type * as activities from '../../activities';
import type { StartRequest } from '../../model/activity-types';
import { compactPlan } from '../../model/compact-plan';
import type { Plan, PlannedContainer } from '../../model/plan';
import { SEARCH_ATTRIBUTES } from '../../model/shared';
import type { RunSummary, Step } from '../../model/steps';
import { DEFAULT_CONCURRENCY, DEFAULT_ROLLOUT, type Rollout } from '../../model/types';
import { PartReader } from '../../cli/run-steps';
import { deployPipeline } from '../../workflows';
import { temporalCli } from '../helpers/temporal';

jest.setTimeout(180000);
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const searchAttributes = Object.values(SEARCH_ATTRIBUTES).map((key) => ({ name: key.name, type: 'KEYWORD' }));
  env = await TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalCli() }, searchAttributes: searchAttributes as never } });
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('ERROR') });
});
afterAll(async () => {
  await env?.teardown();
});

const HOSTS = ['h1', 'h2', 'h3'];
const OLD = (image: string) => `reg:5000/${image}@sha256:A`;
const NEW = (image: string) => `reg:5000/${image}@sha256:B`;

function instance(service: string, host: string, clustered = false): PlannedContainer {
  return {
    name: service, service, host, hostAddress: `10.0.0.${HOSTS.indexOf(host) + 1}`, image: service, stage: 'database', env: {}, volumes: [], privileged: false, capAdd: [], labels: {},
    health: { tcp: 1, timeoutSeconds: 1 }, standin: null, command: null, ...(clustered ? { quorum: { command: ['in-quorum'] } } : {}),
  };
}

/** zk: a three-member cluster; api: three instances; web: a single one. */
function upgradePlan(rollout: Partial<Rollout>): Plan {
  return {
    topology: 't', topologyFile: '/t.yaml', release: 'B',
    registry: { address: 'reg:5000', ca: null, username: 'u', password: { secret: 'PW' } },
    ssh: { user: 'root', keyFile: null, knownHosts: '/kh' },
    images: [],
    hosts: HOSTS.map((name, i) => ({ name, address: `10.0.0.${i + 1}`, sshPort: 22, roles: [], directories: [], kernelModules: [] })),
    stages: [{ name: 'database', containers: [...HOSTS.map((h) => instance('zk', h, true)), ...HOSTS.map((h) => instance('api', h)), instance('web', 'h1')] }],
    concurrency: DEFAULT_CONCURRENCY,
    rollout: { ...DEFAULT_ROLLOUT, parkTimeoutSeconds: 0, ...rollout },
  };
}

/** Hosts that run release A: each container has an id and a ref; replacements and restores are recorded. */
class StubHosts {
  readonly running = new Map<string, { id: string; ref: string }>();
  readonly kept = new Map<string, { id: string; ref: string }>();
  /** Per service: instances down (replaced, not yet proven), and the most at once. */
  private readonly down = new Map<string, Set<string>>();
  readonly mostDown = new Map<string, number>();
  readonly events: string[] = [];
  readonly startRequests: StartRequest[] = [];
  private ids = 0;

  constructor(private readonly failHealthOf?: string) {
    for (const c of upgradePlan({}).stages[0].containers) this.running.set(key(c), { id: `old-${key(c)}`, ref: OLD(c.image) });
  }

  activities(): typeof activities {
    const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const notHere = async (): Promise<never> => {
      throw ApplicationFailure.nonRetryable('a rollback builds nothing', 'InvalidPlan');
    };
    return {
      lookupImage: notHere, lookupImages: notHere, buildImage: notHere, pushImage: notHere, publishRelease: notHere,
      prepareHost: async (req) => ({ host: req.host.name, dockerVersion: '20.10', items: [] }),
      pullImages: async (req) => ({ host: req.host.name, pulled: req.imageRefs, present: [] }),
      surveyHost: async (req) => ({ host: req.host.name, containers: req.containers.map((c) => ({ container: c.name, imageRef: this.running.get(key(c))?.ref ?? null, healthy: true, inQuorum: true })) }),
      startContainer: async (req) => {
        const k = key(req.container);
        this.startRequests.push(req);
        const existing = this.running.get(k);
        if (existing?.ref === req.imageRef) return { container: req.container.name, host: req.container.host, id: existing.id, outcome: 'unchanged' as const };
        if (existing && req.replaceInTurn) return { container: req.container.name, host: req.container.host, id: existing.id, outcome: 'unchanged' as const, waitsForTurn: true };
        if (existing) this.goesDown(req.container);
        if (existing && req.keepPrevious) this.kept.set(k, existing);
        const id = `new-${++this.ids}`;
        this.running.set(k, { id, ref: req.imageRef });
        this.events.push(`start ${k}`);
        return { container: req.container.name, host: req.container.host, id, outcome: existing ? ('recreated' as const) : ('created' as const), ...(existing && req.keepPrevious ? { previous: existing.id } : {}) };
      },
      checkHealth: async (req) => {
        await tick(300);
        const k = key(req.container);
        if (k === this.failHealthOf && this.running.get(k)?.ref === NEW(req.container.image)) throw ApplicationFailure.nonRetryable(`health gate: ${k} restarted during its health gate`, 'ContainerCrashLoop');
        this.comesUp(req.container);
        this.events.push(`healthy ${k}`);
        return { container: req.container.name, host: req.container.host, answeredAfterMs: 300 };
      },
      checkQuorum: async (req) => {
        this.events.push(`quorum ${req.service} of ${req.healthy.length}${req.include ? ` with ${req.include.join(',')}` : ''}`);
        return { service: req.service, inQuorum: req.healthy.map((m) => m.host.name) };
      },
      removeOrphans: async (req) => ({ host: req.host.name, removed: [] }),
      restorePrevious: async (req) => {
        const k = key(req.container);
        const kept = this.kept.get(k)!;
        expect(kept.id).toBe(req.previous);
        this.running.set(k, kept);
        this.kept.delete(k);
        this.comesUp(req.container);
        this.events.push(`restore ${k}`);
        return { container: req.container.name, host: req.container.host, id: kept.id, outcome: 'unchanged' as const };
      },
      discardPrevious: async (req) => {
        this.kept.delete(key(req.container));
        this.events.push(`discard ${key(req.container)}`);
      },
    };
  }

  private goesDown(c: PlannedContainer): void {
    const down = this.down.get(c.service) ?? new Set<string>();
    this.down.set(c.service, down.add(key(c)));
    this.mostDown.set(c.service, Math.max(this.mostDown.get(c.service) ?? 0, down.size));
  }

  private comesUp(c: PlannedContainer): void {
    this.down.get(c.service)?.delete(key(c));
  }
}

const key = (c: Pick<PlannedContainer, 'name' | 'host'>) => `${c.name}@${c.host}`;
const toB = { zk: NEW('zk'), api: NEW('api'), web: NEW('web') };

/** A rollback to release B (refs given), served by workers on queues of the test's own; its summary with steps. */
async function rollBack(id: string, p: Plan, hosts: StubHosts): Promise<RunSummary & { steps: Step[] }> {
  const queues = { build: `${id}-build`, deploy: `${id}-deploy` };
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue: queues.deploy, workflowBundle: bundle, activities: hosts.activities() });
  const summary = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(deployPipeline, {
      taskQueue: queues.deploy, workflowId: id, typedSearchAttributes: [{ key: SEARCH_ATTRIBUTES.status, value: 'running' }],
      args: [{ runId: id, plan: compactPlan(p), queues, rollback: { from: 'A', to: 'B', digests: toB } }],
    });
    return handle.result().catch((e: unknown) => ((e as WorkflowFailedError).cause as ApplicationFailure).details?.[0] as RunSummary);
  });
  return { ...summary, steps: await new PartReader(env.client.workflow).steps(summary) };
}

const stepOf = (run: { steps: Step[] }, id: string) => run.steps.find((s) => s.id === id);

test('members of a cluster one at a time, each after its gate and the quorum again; maxUnavailable instances; a single one in place with its downtime', async () => {
  const hosts = new StubHosts();
  const run = await rollBack('wf-rolling', upgradePlan({ maxUnavailable: 2 }), hosts);
  expect(run.status).toBe('completed');
  expect(run.rollback).toEqual({ from: 'A', to: 'B' });
  expect(run.digests).toEqual(toB);
  for (const [k, c] of hosts.running) expect(c.ref).toBe(NEW(k.split('@')[0]));
  expect(run.containers).toEqual({ created: 0, recreated: 7, unchanged: 0 });
  // One member down at a time; the next one started only after the one before was healthy, the quorum asked, and
  // the old container discarded.
  expect(hosts.mostDown.get('zk')).toBe(1);
  // (The stage's own quorum gate asks the first two healthy members, once.)
  expect(hosts.events.filter((e) => e === 'quorum zk of 2')).toHaveLength(1);
  const zk = hosts.events.filter((e) => /zk/.test(e) && e !== 'quorum zk of 2');
  expect(zk).toHaveLength(3 * 4);
  for (let i = 0; i < 3; i++) {
    expect(zk.slice(i * 4, i * 4 + 4).map((e) => e.split(' ')[0])).toEqual(['start', 'healthy', 'quorum', 'discard']);
    // The replaced member itself must be back in the cluster, not just any majority.
    expect(zk[i * 4 + 2]).toBe(`quorum zk of 3 with ${zk[i * 4].split('@')[1]}`);
  }
  expect(stepOf(run, 'health:zk@h2')?.detail).toMatch(/^answered after 300 ms; replaced \(member down \d+\.\d s\), zk in quorum again \(3 of 3: h1, h2, h3\)$/);
  // Three instances, two at most down at once.
  expect(hosts.mostDown.get('api')).toBe(2);
  expect(stepOf(run, 'health:web@h1')?.detail).toMatch(/single instance replaced in place: down \d+\.\d s$/);
  expect(hosts.startRequests.every((r) => r.keepPrevious)).toBe(true);
  expect(hosts.kept.size).toBe(0);
});

test('a replacement that fails its gate: the old container runs again, the step fails (parks, here aborted at once), the other members stay on the old release', async () => {
  const hosts = new StubHosts('zk@h2');
  const run = await rollBack('wf-rolling-restore', upgradePlan({}), hosts);
  expect(run.status).toBe('failed');
  // zk@h2 runs its old container again, the very same one.
  expect(hosts.running.get('zk@h2')).toEqual({ id: 'old-zk@h2', ref: OLD('zk') });
  const health = stepOf(run, 'health:zk@h2');
  expect(health?.status).toBe('failed');
  expect(health?.detail).toMatch(/^zk on h2 runs its previous container again \(old-zk@h2\)\. The replacement failed: health gate: zk@h2 restarted/);
  // No member was replaced after the failure: each is on B (replaced before it) or still on A, and those are blocked.
  const failedAt = hosts.events.indexOf('restore zk@h2');
  for (const h of ['h1', 'h3']) {
    const replaced = hosts.events.indexOf(`start zk@${h}`);
    if (replaced >= 0) expect(replaced).toBeLessThan(failedAt);
    else expect(stepOf(run, `start:zk@${h}`)).toMatchObject({ status: 'blocked', detail: expect.stringMatching(/^not replaced: the replacement of another instance of zk failed \(health:zk@h2\)/) as unknown });
  }
  expect(hosts.mostDown.get('zk')).toBe(1);
});

test('rollout.upgrade: recreate replaces every changed container at once, keeping nothing (the behaviour before)', async () => {
  const hosts = new StubHosts();
  const run = await rollBack('wf-recreate', upgradePlan({ upgrade: 'recreate' }), hosts);
  expect(run.status).toBe('completed');
  expect(hosts.mostDown.get('zk')).toBe(3);
  expect(hosts.startRequests.some((r) => r.keepPrevious)).toBe(false);
  expect(hosts.events.some((e) => e.startsWith('discard'))).toBe(false);
});
