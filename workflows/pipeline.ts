// The pipeline: build every image after its parent is pushed, prepare hosts, bring services up stage by stage with
// health gates. Orchestration only: all I/O is in activities, routed to the build or deploy task queue.
import { ApplicationFailure, condition, executeChild, patched, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { SurveyedContainer } from '../activities/containers';
import type { BuildRequest, LookupResult, PushResult } from '../activities/images';
import { clustersOf, dependentsOf, hostRef, type Plan, type PlannedContainer, type PlannedHost, type PlannedImage } from '../model/plan';
import { decideUpdate, runSummaryQuery, SEARCH_ATTRIBUTES, type TaskQueues } from '../model/shared';
import { Semaphore } from '../model/semaphore';
import { StepLog, stepId, stepWorkflowId, type DecisionAction, type ParkedStep, type RunSummary } from '../model/steps';
import { callActivity, pipelineStep, type ActivityName, type Activities, type CallProfile } from './activity-calls';
import { batchName, quorumSize, stageBatches } from '../model/rollout';
import { DEFAULT_CONCURRENCY, DEFAULT_ROLLOUT } from '../model/types';

export interface PipelineInput {
  runId: string;
  plan: Plan;
  queues: TaskQueues;
  noCache?: boolean;
  /** Set by `resume`: the run this one continues. Nothing is taken from it on trust: every step checks the registry
   *  and the hosts, and finds finished work finished. */
  resumedFrom?: string;
}

/** Thrown for a step that never ran because something it needs failed. */
class Blocked extends Error {}
/** A failed step an operator skipped: what needs its result is blocked; a skipped health gate lets the run go on. */
class Skipped extends Blocked {}

export async function deployPipeline(input: PipelineInput): Promise<RunSummary> {
  const { plan, queues } = input;
  const steps = new StepLog(() => new Date());
  const summary: RunSummary = {
    runId: input.runId, status: 'running', release: plan.release, topology: plan.topology, resumedFrom: input.resumedFrom,
    stageOrder: plan.stages.map((s) => s.name),
    images: { built: 0, skipped: 0, failed: 0, blocked: 0 },
    containers: { created: 0, recreated: 0, unchanged: 0 },
    digests: {}, buildLogs: {}, steps: [], decisions: [],
  };
  const snapshot = (): RunSummary => ({ ...summary, steps: steps.all() });
  setHandler(runSummaryQuery, snapshot);
  // Clustered services (quorum in the catalog) hold the next stage until a majority of their members is healthy and
  // says it has quorum; a minority that fails parks without holding the rollout. Runs started before this replay
  // with every member gating the stage.
  const quorumGates = patched('quorum-gates');
  // Each host's running containers are surveyed at the start; stages whose every container already runs as planned
  // and answers are done without a start and gate step per container. Runs started before this replay without it.
  const surveying = quorumGates && patched('host-survey');
  registerSteps(steps, plan, quorumGates, surveying);

  // Each step's activity runs in a child workflow with a business id (<run>/build/<image>, <run>/host/<host>,
  // <run>/stage/<stage>/...), so the UI and `temporal workflow list` show a run's parts by name. Runs started
  // before this replay with the activities called directly.
  const childSteps = patched('child-workflows');
  const executions = new Map<string, number>();
  function run<K extends ActivityName>(id: string, profile: CallProfile, activity: K, summary: string, ...args: Parameters<Activities[K]>): ReturnType<Activities[K]> {
    const call = { profile, queues, activity, args, summary };
    if (!childSteps) return callActivity(call);
    const execution = (executions.get(id) ?? 0) + 1;
    executions.set(id, execution);
    return executeChild(pipelineStep, { workflowId: stepWorkflowId(input.runId, steps.get(id)!, execution), args: [call], staticSummary: summary }) as ReturnType<Activities[K]>;
  }

  const failures: { id: string; message: string }[] = [];
  // A step that still fails after its retries parks: its branch waits for an operator (retry, skip, abort) while
  // independent branches go on. Runs started before parking existed replay without it.
  const parking = patched('park-failed-steps');
  const parkTimeoutMs = (plan.rollout?.parkTimeoutSeconds ?? DEFAULT_ROLLOUT.parkTimeoutSeconds) * 1000;
  const parked = new Map<string, ParkedStep>();
  const decided = new Map<string, DecisionAction>();
  let abortAll = false;
  const publishParkedState = () => {
    summary.parked = [...parked.values()];
    // What the UI shows as the run's current details: why it waits, and what an operator can do.
    setCurrentDetails(parked.size ? [...parked.values()].map((p) => `PARKED ${p.id}${p.host ? ` on ${p.host}` : ''}: ${p.error.split('\n')[0]}\nDecide: contrail-deploy retry|skip|abort ${input.runId} --step ${p.id}`).join('\n\n') : '');
    const status = parked.size ? 'parked' : 'running';
    if (summary.status !== status) {
      summary.status = status;
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: status }]);
    }
  };
  setHandler(decideUpdate, (d) => {
    const ids = d.step ? [d.step] : [...parked.keys()];
    for (const id of ids) {
      decided.set(id, d.action);
      summary.decisions!.push({ ...d, step: id, at: new Date().toISOString() });
    }
    if (d.action === 'abort' && !d.step) abortAll = true;
    return { steps: ids, action: d.action };
  }, {
    validator: (d) => {
      if (!['retry', 'skip', 'abort'].includes(d.action)) throw new Error(`unknown action "${d.action}": retry, skip or abort`);
      const list = [...parked.keys()].join(', ') || 'none';
      if (!d.step) {
        if (!parked.size) throw new Error('no step is parked');
        if (d.action !== 'abort' && parked.size > 1) throw new Error(`${parked.size} steps are parked (${list}): name one with --step`);
        return;
      }
      if (!parked.has(d.step)) throw new Error(`step ${d.step} is not parked (parked: ${list})`);
      const dependents = dependentsOf(plan, d.step);
      if (d.action === 'skip' && dependents.length && !d.force) {
        throw new Error(`step ${d.step} has dependents (${dependents.slice(0, 5).join(', ')}${dependents.length > 5 ? ', ...' : ''}): skipping it blocks them; pass --force to skip anyway`);
      }
    },
  });

  /** Waits for an operator decision on a failed step; the park timeout (or abort) fails it. */
  async function park(id: string, message: string): Promise<DecisionAction> {
    if (!parking || abortAll || parkTimeoutMs <= 0) return 'abort';
    const now = Date.now();
    parked.set(id, { id, host: steps.get(id)?.host, error: message, since: new Date(now).toISOString(), until: new Date(now + parkTimeoutMs).toISOString() });
    steps.finish(id, 'parked', message);
    publishParkedState();
    const answered = await condition(() => decided.has(id) || abortAll, parkTimeoutMs);
    const action = answered ? (decided.get(id) ?? 'abort') : 'abort';
    decided.delete(id);
    parked.delete(id);
    publishParkedState();
    return action;
  }

  /** Runs one step: records its times and outcome. A failure parks (see park); then it is retried, skipped, or
   *  recorded as failed and rethrown to block dependants. */
  async function step<T>(id: string, fn: () => Promise<T>, detail: (r: T) => string | undefined, slots?: Semaphore): Promise<T> {
    const attempt = () => {
      steps.start(id);
      return fn();
    };
    for (;;) {
      try {
        // With a limit, the step's clock starts when a slot is free (its duration is its own), and a parked step
        // gives its slot back while it waits.
        const r = await (slots ? slots.run(attempt) : attempt());
        steps.finish(id, 'completed', detail(r));
        return r;
      } catch (e) {
        await afterFailure(id, e);
      }
    }
  }
  /** After a failed attempt: parks; returns when the operator wants it run again, else throws (skipped or failed). */
  async function afterFailure(id: string, e: unknown): Promise<void> {
    if (e instanceof Blocked) return recordFailure(id, e);
    const message = failureMessage(e);
    const action = await park(id, message);
    if (action === 'retry') return;
    if (action === 'skip') {
      steps.finish(id, 'skipped', `skipped by an operator after: ${message}`);
      throw new Skipped(`${id} was skipped`);
    }
    return recordFailure(id, e);
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

  // The whole image tree is looked up in the registry in one activity first; only images it could not answer for (their
  // parent must be built first) are looked up one by one. A failed tree lookup falls back to those. Runs started
  // before this replay with one lookup per image.
  const treeLookup: Promise<Record<string, LookupResult> | null> =
    !input.noCache && plan.images.length && patched('tree-lookup')
      ? callActivity({ profile: 'build', queues, activity: 'lookupImages', args: [{ runId: input.runId, release: plan.release, images: plan.images, registry: plan.registry }], summary: `look up ${plan.images.length} images in the registry` }).catch(() => null)
      : Promise.resolve(null);

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
      const found = !input.noCache && patched('registry-lookup') ? ((await treeLookup)?.[image.name] ?? (await lookUp(buildId, request))) : null;
      if (found?.ref) {
        steps.finish(buildId, 'skipped', `unchanged: input ${found.inputHash} is in the registry`);
        steps.finish(stepId('push', image.name), 'skipped', found.ref);
        summary.images.skipped++;
        summary.digests[image.name] = found.ref;
        return { image: image.name, digest: found.ref.slice(found.ref.indexOf('@') + 1), ref: found.ref };
      }
      built = await step(buildId, () => run(buildId, 'build', 'buildImage', `build ${image.name}`, request), (r) => (r.skipped ? `unchanged (input ${r.inputHash})` : `built ${r.imageId.slice(0, 19)}`), buildSlots);
    } catch (e) {
      if (e instanceof Skipped) summary.images.blocked++;
      else summary.images.failed++;
      steps.finish(stepId('push', image.name), 'blocked', `build of ${image.name} ${e instanceof Skipped ? 'was skipped' : 'failed'}`);
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
    const result = await step(stepId('push', image.name), () => run(stepId('push', image.name), 'build', 'pushImage', `push ${image.name}`, { image: image.name, tag: built.tag, registry: plan.registry }), (r) => r.ref, pushSlots);
    summary.digests[image.name] = result.ref;
    return result;
  }

  async function lookUp(buildId: string, request: BuildRequest): Promise<LookupResult> {
    for (;;) {
      try {
        return await callActivity({ profile: 'build', queues, activity: 'lookupImage', args: [request], summary: `look up ${request.image.name} in the registry` });
      } catch (e) {
        steps.start(buildId);
        await afterFailure(buildId, e);
      }
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
    const published = await step(stepId('publish', plan.release), () => run(stepId('publish', plan.release), 'build', 'publishRelease', `move release tag ${plan.release}`, { registry: plan.registry, release: plan.release, digests: summary.digests }), (r) => `${r.moved.length} moved, ${r.unchanged.length} already there`);
    summary.releaseTag = { tag: plan.release, moved: true, changed: published.moved.length };
  });

  // Hosts: prepared once, when the first container that needs them is about to start.
  const prepared = new Map<string, Promise<unknown>>();
  const hostsByName = new Map(plan.hosts.map((h) => [h.name, h]));
  const prepare = (host: PlannedHost) => {
    if (!prepared.has(host.name)) {
      prepared.set(host.name, step(stepId('prepare', host.name), () => run(stepId('prepare', host.name), 'deploy', 'prepareHost', `prepare ${host.name} (${host.address})`, { host, ssh: plan.ssh, registry: { address: plan.registry.address, ca: plan.registry.ca } }), (r) => r.items.map((i) => `${i.item}: ${i.outcome}`).join('; ') || 'nothing to do'));
    }
    return prepared.get(host.name)!;
  };
  // Every host is prepared right away, in parallel with the builds: preparation needs no image.
  for (const host of plan.hosts) prepare(host).catch(() => undefined);

  // Each host pulls the images it will run once they are all pushed, while earlier stages come up; a start never
  // waits for this (it pulls its own image if needed), so a failed pre-pull costs time, not the run.
  const containersOn = new Map(plan.hosts.map((h) => [h.name, plan.stages.flatMap((s) => s.containers).filter((c) => c.host === h.name)]));
  const prePulls: Promise<void>[] = [];
  if (patched('pre-pull-images')) {
    for (const host of plan.hosts) {
      const images = [...new Set(containersOn.get(host.name)!.map((c) => c.image))];
      if (images.length) prePulls.push(prePull(host, images));
    }
  }
  async function prePull(host: PlannedHost, images: string[]): Promise<void> {
    const id = stepId('pull', host.name);
    let refs: string[];
    try {
      refs = (await Promise.all(images.map((i) => pushed.get(i)!))).map((r) => r.ref);
      await prepare(host);
    } catch {
      steps.finish(id, 'blocked', 'an image or the host preparation failed');
      return;
    }
    steps.start(id);
    try {
      const r = await run(id, 'deploy', 'pullImages', `pull ${refs.length} images on ${host.name}`, { host: hostRef(host), imageRefs: refs, registry: plan.registry, ssh: plan.ssh });
      steps.finish(id, 'completed', `${r.pulled.length} pulled, ${r.present.length} already there`);
    } catch (e) {
      steps.finish(id, 'skipped', `pre-pull failed, each start pulls its own image: ${failureMessage(e)}`);
    }
  }

  // What already runs on each host, asked once at the start (in parallel with builds and preparation); null where the
  // survey failed, so that everything there goes through the usual steps.
  const surveys = new Map<string, Promise<Map<string, SurveyedContainer> | null>>();
  if (surveying) {
    for (const host of plan.hosts) {
      const containers = containersOn.get(host.name)!;
      if (containers.length) surveys.set(host.name, survey(host, containers));
    }
  }
  async function survey(host: PlannedHost, containers: PlannedContainer[]): Promise<Map<string, SurveyedContainer> | null> {
    const id = stepId('survey', host.name);
    steps.start(id);
    try {
      const r = await run(id, 'deploy', 'surveyHost', `survey ${containers.length} containers on ${host.name}`, { host: hostRef(host), containers, ssh: plan.ssh });
      steps.finish(id, 'completed', `${r.containers.filter((c) => c.healthy).length} of ${containers.length} run as planned and answer`);
      return new Map(r.containers.map((c) => [c.container, c]));
    } catch (e) {
      steps.finish(id, 'skipped', `survey failed, each container goes through its own steps: ${failureMessage(e)}`);
      return null;
    }
  }

  /** True when every container of the batch already runs from its pushed image and spec, answers its health check,
   *  and each clustered service has its quorum: then the batch's steps are recorded as done, and nothing runs. */
  async function settledBySurvey(containers: PlannedContainer[]): Promise<boolean> {
    const found = new Map<string, SurveyedContainer>();
    const settled = async (c: PlannedContainer): Promise<boolean> => {
      const s = (await surveys.get(c.host))?.get(c.name);
      if (!s?.healthy) return false;
      const [image] = await Promise.all([pushed.get(c.image)!, prepare(hostsByName.get(c.host)!)]);
      if (s.imageRef !== image.ref) return false;
      found.set(c.name, s);
      return true;
    };
    // Decided as soon as one container is not settled: a batch that needs work does not wait for all its images here.
    if (!(await allOf(containers.map(settled)))) return false;
    const clusters = clustersOf(containers, (c) => c);
    const inQuorum = (members: PlannedContainer[]) => members.filter((c) => found.get(c.name)?.inQuorum);
    if ([...clusters.values()].some((members) => inQuorum(members).length < quorumSize(members.length))) return false;
    for (const c of containers) {
      // Finished without having run: StepLog gives a step that never started the same start and end time.
      steps.finish(stepId('start', c.name, c.host), 'completed', 'unchanged');
      steps.finish(stepId('health', c.name, c.host), 'completed', 'answered at the survey');
      summary.containers.unchanged++;
    }
    for (const [service, members] of clusters) {
      const ok = inQuorum(members);
      steps.finish(stepId('quorum', service), 'completed', `${ok.length} of ${members.length} members in quorum (${ok.map((c) => c.host).join(', ')}), ${quorumSize(members.length)} needed, at the survey`);
    }
    return true;
  }

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
    const target = hostRef(host);
    try {
      const started = await step(startId, () => run(startId, 'deploy', 'startContainer', `start ${c.name} on ${c.host}`, { runId: input.runId, container: c, host: target, imageRef: image.ref, registry: plan.registry, ssh: plan.ssh }), (r) => r.outcome);
      summary.containers[started.outcome]++;
    } catch (e) {
      steps.finish(healthId, 'blocked', `start of ${c.name} failed`);
      throw e;
    }
    await step(healthId, () => run(healthId, 'health', 'checkHealth', `health gate ${c.name} on ${c.host}`, { container: c, host: target, ssh: plan.ssh }), (r) => `answered after ${r.answeredAfterMs} ms`).catch((e: unknown) => {
      if (!(e instanceof Skipped)) throw e;
    });
  }

  /** A clustered service's gate: waits for a majority of its members to be healthy (or for that to become
   *  impossible), then asks them whether they have quorum. */
  async function quorumGate(service: string, members: { c: PlannedContainer; done: Promise<void> }[]): Promise<boolean> {
    const id = stepId('quorum', service);
    const need = quorumSize(members.length);
    const healthy: PlannedContainer[] = [];
    let failed = 0;
    await new Promise<void>((resolve) => {
      const settle = () => (healthy.length >= need || failed > members.length - need ? resolve() : undefined);
      for (const m of members) {
        m.done.then(() => healthy.push(m.c), () => failed++).then(settle, settle);
      }
    });
    if (healthy.length < need) {
      steps.finish(id, 'blocked', `${healthy.length} of ${members.length} members healthy, ${need} needed for a quorum`);
      return false;
    }
    const first = members[0].c;
    const request = {
      service, members: members.length, need, command: first.quorum?.command, timeoutSeconds: first.health?.timeoutSeconds ?? 120, ssh: plan.ssh,
      healthy: healthy.map((c) => ({ container: c, host: hostRef(hostsByName.get(c.host)!) })),
    };
    try {
      await step(id, () => run(id, 'health', 'checkQuorum', `quorum gate ${service} (${need} of ${members.length})`, request), (r) => `${r.inQuorum.length} of ${members.length} members in quorum (${r.inQuorum.join(', ')}), ${need} needed`);
      return true;
    } catch {
      return false;
    }
  }

  // Every bring-up, so the run waits for a minority member that parked while later stages went on.
  const bringUps: Promise<void>[] = [];
  /** Brings a batch up; true when the next may start: every plain container healthy, every clustered service in quorum. */
  async function bringUpBatch(containers: PlannedContainer[]): Promise<boolean> {
    if (!quorumGates) return (await Promise.allSettled(containers.map(bringUp))).every((r) => r.status === 'fulfilled');
    const started = containers.map((c) => ({ c, done: bringUp(c) }));
    bringUps.push(...started.map((s) => s.done));
    const clusters = clustersOf(started, (x) => x.c);
    const plain = Promise.allSettled(started.filter((x) => !x.c.quorum).map((x) => x.done)).then((rs) => rs.every((r) => r.status === 'fulfilled'));
    return (await Promise.all([plain, ...[...clusters].map(([service, members]) => quorumGate(service, members))])).every(Boolean);
  }

  // Stages in order; a stage starts when every container of the previous stages is healthy. Compute hosts go in
  // batches (canary first); a failed batch stops the next. Runs started before batches existed replay without them.
  const batched = patched('compute-batches');
  let stagesOk = true;
  let stopReason = 'an earlier stage failed';
  // Survey results count only while every earlier batch was settled by them: after a batch that needed work, later
  // containers are reconciled and gated again, after it.
  let settling = surveying;
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
      if (settling && (await settledBySurvey(batch.containers))) continue;
      settling = false;
      stagesOk = await bringUpBatch(batch.containers);
      if (!stagesOk && 'index' in batch && batch.of > 1) stopReason = `${batchName(batch)} failed`;
    }
  }
  // Images that no service runs are still built and pushed before the run ends.
  await Promise.allSettled([...pushed.values(), ...prepared.values(), release, ...prePulls, ...bringUps]);

  summary.status = failures.length ? 'failed' : 'completed';
  summary.parked = [];
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

function registerSteps(steps: StepLog, plan: Plan, quorumGates: boolean, surveying: boolean): void {
  for (const image of plan.images) {
    steps.add({ id: stepId('build', image.name), kind: 'build', target: image.name, parent: image.parent ?? undefined });
    steps.add({ id: stepId('push', image.name), kind: 'push', target: image.name, parent: image.parent ?? undefined });
  }
  if (plan.images.length) steps.add({ id: stepId('publish', plan.release), kind: 'publish', target: plan.release });
  for (const host of plan.hosts) steps.add({ id: stepId('prepare', host.name), kind: 'prepare', target: host.name, host: host.name });
  for (const host of plan.hosts) {
    if (!plan.stages.some((s) => s.containers.some((c) => c.host === host.name))) continue;
    steps.add({ id: stepId('pull', host.name), kind: 'pull', target: host.name, host: host.name });
    if (surveying) steps.add({ id: stepId('survey', host.name), kind: 'survey', target: host.name, host: host.name });
  }
  for (const stage of plan.stages) {
    for (const batch of stageBatches(stage, plan.rollout ?? DEFAULT_ROLLOUT)) {
      const batchLabel = batch.of > 1 ? batchName(batch) : undefined;
      for (const c of batch.containers) {
        steps.add({ id: stepId('start', c.name, c.host), kind: 'start', target: c.name, host: c.host, stage: stage.name, batch: batchLabel });
        steps.add({ id: stepId('health', c.name, c.host), kind: 'health', target: c.name, host: c.host, stage: stage.name, batch: batchLabel });
      }
    }
    const clustered = new Set(stage.containers.filter((c) => c.quorum).map((c) => c.service));
    if (quorumGates) for (const service of clustered) steps.add({ id: stepId('quorum', service), kind: 'quorum', target: service, stage: stage.name });
  }
}

/** True when every check is true; false as soon as one is false or fails. */
function allOf(checks: Promise<boolean>[]): Promise<boolean> {
  return new Promise((resolve) => {
    let left = checks.length;
    if (!left) resolve(true);
    for (const check of checks) check.then((ok) => (ok ? --left === 0 && resolve(true) : resolve(false)), () => resolve(false));
  });
}

/** The innermost failure message (an activity's own words), without the wrapper's. */
function failureMessage(e: unknown): string {
  let cur = e as { message?: string; cause?: unknown } | undefined;
  while (cur?.cause) cur = cur.cause as typeof cur;
  return cur?.message ?? String(e);
}

