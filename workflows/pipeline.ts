// The pipeline: build every image after its parent is pushed, prepare hosts, bring services up stage by stage with
// health gates. Orchestration only: all I/O is in activities, routed to the build or deploy task queue.
import { ApplicationFailure, patched, proxyActivities, setHandler, upsertSearchAttributes, type ActivityOptions } from '@temporalio/workflow';
import type * as activities from '../activities';
import type { BuildRequest, LookupResult, PushResult } from '../activities/images';
import type { Plan, PlannedContainer, PlannedHost, PlannedImage } from '../model/plan';
import { runSummaryQuery, SEARCH_ATTRIBUTES, type TaskQueues } from '../model/shared';
import { Semaphore } from '../model/semaphore';
import { StepLog, stepId, type RunSummary } from '../model/steps';
import { batchName, stageBatches } from '../model/rollout';
import { DEFAULT_CONCURRENCY, DEFAULT_ROLLOUT } from '../model/types';

export interface PipelineInput {
  runId: string;
  plan: Plan;
  queues: TaskQueues;
  noCache?: boolean;
}

const NON_RETRYABLE = ['BuildFailed', 'BuildCancelled', 'ContextMissing', 'InvalidPlan', 'RegistryAuthFailed', 'KernelModuleMissing', 'SshRefused', 'ContainerRejected', 'HealthGateTimeout', 'SecretNotFound'];

function options(taskQueue: string, startToCloseTimeout: ActivityOptions['startToCloseTimeout'], heartbeatTimeout?: ActivityOptions['heartbeatTimeout']): ActivityOptions {
  return {
    taskQueue,
    startToCloseTimeout,
    heartbeatTimeout,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE },
  };
}

/** Thrown for a step that never ran because something it needs failed. */
class Blocked extends Error {}

export async function deployPipeline(input: PipelineInput): Promise<RunSummary> {
  const { plan, queues } = input;
  const build = proxyActivities<typeof activities>(options(queues.build, '30m', '2m'));
  const deploy = proxyActivities<typeof activities>(options(queues.deploy, '10m', '1m'));
  const health = proxyActivities<typeof activities>({ ...options(queues.deploy, '1h', '1m'), retry: { maximumAttempts: 1 } });

  const steps = new StepLog(() => new Date());
  const summary: RunSummary = {
    runId: input.runId, status: 'running', release: plan.release, topology: plan.topology,
    stageOrder: plan.stages.map((s) => s.name),
    images: { built: 0, skipped: 0, failed: 0, blocked: 0 },
    containers: { created: 0, recreated: 0, unchanged: 0 },
    digests: {}, buildLogs: {}, steps: [],
  };
  const snapshot = (): RunSummary => ({ ...summary, steps: steps.all() });
  setHandler(runSummaryQuery, snapshot);
  registerSteps(steps, plan);

  const failures: { id: string; message: string }[] = [];
  /** Runs one step: records its times and outcome; a failure is recorded and rethrown to block dependants. */
  async function step<T>(id: string, fn: () => Promise<T>, detail: (r: T) => string | undefined): Promise<T> {
    steps.start(id);
    try {
      const r = await fn();
      steps.finish(id, 'completed', detail(r));
      return r;
    } catch (e) {
      return recordFailure(id, e);
    }
  }
  function recordFailure(id: string, e: unknown): never {
    if (e instanceof Blocked) {
      steps.finish(id, 'blocked', e.message);
    } else {
      const message = failureMessage(e);
      steps.finish(id, 'failed', message);
      failures.push({ id, message });
    }
    throw new Blocked(`blocked by ${id}`);
  }

  // Separate limits for builds and pushes (a push never waits behind a queue of builds). Runs started before this
  // existed replay without them.
  const limited = patched('separate-build-push-limits');
  const limits = plan.concurrency ?? DEFAULT_CONCURRENCY;
  const buildSlots = new Semaphore(limited ? limits.builds : Number.MAX_SAFE_INTEGER);
  const pushSlots = new Semaphore(limited ? limits.pushes : Number.MAX_SAFE_INTEGER);

  // Images: each starts as soon as its own parent is pushed (not level by level).
  const pushed = new Map<string, Promise<PushResult>>();
  for (const image of plan.images) {
    const parent = image.parent ? pushed.get(image.parent)! : Promise.resolve(undefined);
    pushed.set(image.name, buildAndPush(image, parent));
  }
  async function buildAndPush(image: PlannedImage, parent: Promise<PushResult | undefined>): Promise<PushResult> {
    const buildId = stepId('build', image.name);
    let parentRef: string | null;
    try {
      parentRef = (await parent)?.ref ?? null;
    } catch {
      steps.finish(buildId, 'blocked', `parent ${image.parent} failed`);
      steps.finish(stepId('push', image.name), 'blocked', `parent ${image.parent} failed`);
      summary.images.blocked++;
      throw new Blocked(`blocked by ${image.parent}`);
    }
    const request = { runId: input.runId, release: plan.release, image, parentRef, registry: plan.registry, noCache: input.noCache };
    let built;
    try {
      // The registry already holds this exact image (same input hash): neither build nor push. Outside the build
      // slots: a lookup is one HTTP request. Runs started before lookups existed replay without them.
      const found = !input.noCache && patched('registry-lookup') ? await lookUp(buildId, request) : null;
      if (found?.ref) {
        steps.finish(buildId, 'skipped', `unchanged: input ${found.inputHash} is in the registry`);
        steps.finish(stepId('push', image.name), 'skipped', found.ref);
        summary.images.skipped++;
        summary.digests[image.name] = found.ref;
        return { image: image.name, digest: found.ref.slice(found.ref.indexOf('@') + 1), ref: found.ref };
      }
      // The step's clock starts when a build slot is free, so its duration is the build's own.
      built = await buildSlots.run(() => step(buildId, () => build.buildImage(request), (r) => (r.skipped ? `unchanged (input ${r.inputHash})` : `built ${r.imageId.slice(0, 19)}`)));
    } catch (e) {
      summary.images.failed++;
      steps.finish(stepId('push', image.name), 'blocked', `build of ${image.name} failed`);
      throw e;
    }
    if (!built.skipped) summary.buildLogs[image.name] = built.logFile;
    if (built.skipped) {
      summary.images.skipped++;
      const s = steps.get(buildId);
      if (s) steps.finish(buildId, 'skipped', s.detail);
    } else {
      summary.images.built++;
    }
    const result = await pushSlots.run(() => step(stepId('push', image.name), () => build.pushImage({ image: image.name, tag: built.tag, registry: plan.registry }), (r) => r.ref));
    summary.digests[image.name] = result.ref;
    return result;
  }

  async function lookUp(buildId: string, request: BuildRequest): Promise<LookupResult> {
    try {
      return await build.lookupImage(request);
    } catch (e) {
      steps.start(buildId);
      return recordFailure(buildId, e);
    }
  }

  // The release tag moves only when every image of the set is pushed: never a partial release.
  const release = Promise.allSettled(pushed.values()).then(async (results) => {
    if (!plan.images.length || !patched('atomic-release-tag')) return;
    summary.releaseTag = { tag: plan.release, moved: false };
    if (results.some((r) => r.status === 'rejected')) {
      steps.finish(stepId('publish', plan.release), 'blocked', 'not every image was pushed: the release tag stays where it was');
      return;
    }
    const published = await step(stepId('publish', plan.release), () => build.publishRelease({ registry: plan.registry, release: plan.release, digests: summary.digests }), (r) => `${r.moved.length} moved, ${r.unchanged.length} already there`);
    summary.releaseTag = { tag: plan.release, moved: true, changed: published.moved.length };
  });

  // Hosts: prepared once, when the first container that needs them is about to start.
  const prepared = new Map<string, Promise<unknown>>();
  const hostsByName = new Map(plan.hosts.map((h) => [h.name, h]));
  const prepare = (host: PlannedHost) => {
    if (!prepared.has(host.name)) {
      prepared.set(host.name, step(stepId('prepare', host.name), () => deploy.prepareHost({ host, ssh: plan.ssh }), (r) => r.items.map((i) => `${i.item}: ${i.outcome}`).join('; ') || 'nothing to do'));
    }
    return prepared.get(host.name)!;
  };
  // Every host is prepared right away, in parallel with the builds: preparation needs no image.
  for (const host of plan.hosts) prepare(host).catch(() => undefined);

  async function bringUp(c: PlannedContainer): Promise<void> {
    const host = hostsByName.get(c.host)!;
    const startId = stepId('start', c.name, c.host);
    const healthId = stepId('health', c.name, c.host);
    let image: PushResult;
    try {
      image = await pushed.get(c.image)!;
      await prepare(host);
    } catch (e) {
      steps.finish(startId, 'blocked', (e as Error).message);
      steps.finish(healthId, 'blocked', (e as Error).message);
      throw e;
    }
    const target = { name: host.name, address: host.address, sshPort: host.sshPort };
    try {
      const started = await step(startId, () => deploy.startContainer({ runId: input.runId, container: c, host: target, imageRef: image.ref, registry: plan.registry, ssh: plan.ssh }), (r) => r.outcome);
      summary.containers[started.outcome]++;
    } catch (e) {
      steps.finish(healthId, 'blocked', `start of ${c.name} failed`);
      throw e;
    }
    await step(healthId, () => health.checkHealth({ container: c, host: target, ssh: plan.ssh }), (r) => `answered after ${r.answeredAfterMs} ms`);
  }

  // Stages in order; a stage starts when every container of the previous stages is healthy. Compute hosts go in
  // batches (canary first); a failed batch stops the next. Runs started before batches existed replay without them.
  const batched = patched('compute-batches');
  let stagesOk = true;
  let stopReason = 'an earlier stage failed';
  for (const stage of plan.stages) {
    const batches = batched ? stageBatches(stage, plan.rollout ?? DEFAULT_ROLLOUT) : [{ containers: stage.containers, name: stage.name }];
    for (const batch of batches) {
      if (!stagesOk) {
        for (const c of batch.containers) {
          steps.finish(stepId('start', c.name, c.host), 'blocked', stopReason);
          steps.finish(stepId('health', c.name, c.host), 'blocked', stopReason);
        }
        continue;
      }
      const results = await Promise.allSettled(batch.containers.map(bringUp));
      stagesOk = results.every((r) => r.status === 'fulfilled');
      if (!stagesOk && 'index' in batch && batch.of > 1) stopReason = `${batchName(batch)} failed`;
    }
  }
  // Images that no service runs are still built and pushed before the run ends.
  await Promise.allSettled([...pushed.values(), ...prepared.values(), release]);

  summary.status = failures.length ? 'failed' : 'completed';
  summary.failedStep = failures[0];
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: summary.status }]);
  if (failures.length) {
    throw ApplicationFailure.nonRetryable(
      `step ${failures[0].id} failed: ${failures[0].message}${failures.length > 1 ? ` (and ${failures.length - 1} more failed steps)` : ''}`,
      'PipelineFailed',
      snapshot(),
    );
  }
  return snapshot();
}

function registerSteps(steps: StepLog, plan: Plan): void {
  for (const image of plan.images) {
    steps.add({ id: stepId('build', image.name), kind: 'build', target: image.name, parent: image.parent ?? undefined });
    steps.add({ id: stepId('push', image.name), kind: 'push', target: image.name, parent: image.parent ?? undefined });
  }
  if (plan.images.length) steps.add({ id: stepId('publish', plan.release), kind: 'publish', target: plan.release });
  for (const host of plan.hosts) steps.add({ id: stepId('prepare', host.name), kind: 'prepare', target: host.name, host: host.name });
  for (const stage of plan.stages) {
    for (const batch of stageBatches(stage, plan.rollout ?? DEFAULT_ROLLOUT)) {
      const batchLabel = batch.of > 1 ? batchName(batch) : undefined;
      for (const c of batch.containers) {
        steps.add({ id: stepId('start', c.name, c.host), kind: 'start', target: c.name, host: c.host, stage: stage.name, batch: batchLabel });
        steps.add({ id: stepId('health', c.name, c.host), kind: 'health', target: c.name, host: c.host, stage: stage.name, batch: batchLabel });
      }
    }
  }
}

/** The innermost failure message (an activity's own words), without the wrapper's. */
function failureMessage(e: unknown): string {
  let cur = e as { message?: string; cause?: unknown } | undefined;
  while (cur?.cause) cur = cur.cause as typeof cur;
  return cur?.message ?? String(e);
}
