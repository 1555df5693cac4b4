// One group of hosts of one stage batch, a part of a run (<run>/stage/<stage>[/batch-i-of-n][/group-g-of-m]): at most
// `slots` hosts at once, each prepared (in its first stage), then its containers pulled, started and gated; clustered
// services gated on their quorum. Its history grows with its hosts (at most HOST_GROUP_SIZE), never with the fleet.
import { condition, getExternalWorkflowHandle, patched, setHandler } from '@temporalio/workflow';
import type { SurveyedContainer } from '../model/activity-types';
import { expandPlan, type CompactPlan } from '../model/compact-plan';
import type { HostPart } from '../model/parts';
import { clustersOf, hostRef, type PlannedContainer, type PlannedHost } from '../model/plan';
import { batchName, quorumSize } from '../model/rollout';
import { heldSlot, Semaphore } from '../model/semaphore';
import { partGateSignal, partImagesSignal, partReadySignal, proceedSignal, type Proceed, type TaskQueues } from '../model/shared';
import { stepId, type HostStates, type PartResult, type Step } from '../model/steps';
import { ActivityCaller } from './activity-calls';
import { Blocked, failureMessage, partOutcome, PartSteps, Skipped } from './part-steps';
import { Replacements } from './replacement';

/** Patch id: a settling part prepares its hosts while it surveys them, not after. */
export const PREPARE_WHILE_SURVEYED = 'prepare-while-surveyed';
/** Patch id: a settling part prepares each host it surveyed ahead of its turn whose containers all run and answer, in
 *  its own slots; their own parts then find them prepared. */
export const PREPARE_AHEAD_OF_TURN = 'prepare-ahead-of-turn';
/** Patch id: an operator who skips a quorum gate goes on without it, as with any skipped step (before: the stage failed). */
export const SKIPPED_QUORUM_GOES_ON = 'skipped-quorum-goes-on';

export interface HostPartInput {
  runId: string;
  part: HostPart;
  /** The run's plan, sliced to this part's hosts and stage (model/compact-plan.ts compactSlice). */
  plan: CompactPlan;
  /** Pushed refs of the images this part's containers run; images that will not be pushed, with why. */
  refs: Record<string, string>;
  unavailable: Record<string, string>;
  /** Started before its images were looked up (while what runs may settle it): the refs come by partImagesSignal; the
   *  surveys and preparations go on meanwhile, and nothing that needs a ref starts before they are in. */
  imagesToCome?: boolean;
  /** Whether what already runs may settle this part (every earlier part was settled so). */
  settle: boolean;
  /** Survey results of hosts an earlier part surveyed (their later stages included), by host. */
  surveyed?: Record<string, SurveyedContainer[]>;
  /** Hosts of this part that an earlier, settled part prepared ahead of their turn, with what it found (while what runs
   *  settles parts): their prepare steps are done. */
  preparedAhead?: Record<string, string>;
  queues: TaskQueues;
  abortAll?: boolean;
  /** Started ahead of its turn, while what runs settles parts (every host already surveyed): decides whether it would
   *  be settled, tells the run, and waits for its turn (proceedSignal) before any host work. */
  aheadOfTurn?: boolean;
}

export interface HostPartResult extends PartResult {
  /** Every plain container healthy and every cluster in quorum. */
  ok: boolean;
  /** Done without a start or gate: everything already ran as planned and answered at the survey. */
  settled: boolean;
}

export async function rolloutHosts(input: HostPartInput): Promise<HostPartResult> {
  const { part } = input;
  const plan = expandPlan(input.plan);
  const [stage, ...later] = plan.stages;
  // The slice may hold hosts of later parts too, only to be surveyed here (ahead of their turn, while surveys settle).
  const own = new Set(part.hosts);
  const containers = (stage?.containers ?? []).filter((c) => own.has(c.host));
  // What a host runs after this part (a slice made for a settling part has it): surveyed here too, and passed on.
  const laterOn = (host: string) => (own.has(host) ? later : plan.stages).flatMap((s) => s.containers.filter((c) => c.host === host));
  const batch = part.batch ? batchName(part.batch) : undefined;
  const steps = new PartSteps({ runId: input.runId, stage: part.stage, batch, parkTimeoutSeconds: plan.rollout.parkTimeoutSeconds, abortAll: input.abortAll });
  const calls = new ActivityCaller(input.queues, Boolean(plan.simulate));
  const simulate = plan.simulate ? { simulate: plan.simulate } : {};
  const hosts = new Map(plan.hosts.map((h) => [h.name, h]));
  const containersOn = new Map(plan.hosts.map((h) => [h.name, containers.filter((c) => c.host === h.name)]));
  const busy = plan.hosts.filter((h) => own.has(h.name) && containersOn.get(h.name)!.length);
  const ahead = plan.hosts.filter((h) => !own.has(h.name) && laterOn(h.name).length);
  const surveyedBefore = input.surveyed ?? {};
  registerSteps(steps, part, containersOn, containers, input.settle ? (h) => !surveyedBefore[h] : () => false, input.settle ? ahead.map((h) => h.name) : []);
  steps.hostStates = () => hostStates(steps.log.all(), part.hosts);
  const slots = new Semaphore(part.slots);
  const replacements = new Replacements({ steps, calls, rollout: plan.rollout, ssh: plan.ssh, containers, hosts, ...simulate });
  let proceed: Proceed | undefined;
  setHandler(proceedSignal, (p) => void (proceed = p));
  const refs = { ...input.refs };
  const unavailable = { ...input.unavailable };
  setHandler(partImagesSignal, (images) => {
    Object.assign(refs, images.refs);
    Object.assign(unavailable, images.unavailable);
  });
  const imagesIn = () => condition(() => containers.every((c) => refs[c.image] !== undefined || unavailable[c.image] !== undefined));

  const prepared = new Map<string, Promise<unknown>>();
  let preparedAhead = input.preparedAhead ?? {};
  const prepare = (host: PlannedHost): Promise<unknown> => {
    if (!part.prepare.includes(host.name)) return Promise.resolve();
    const id = stepId('prepare', host.name);
    if (!prepared.has(host.name) && preparedAhead[host.name] !== undefined) {
      steps.log.finish(id, 'completed', `prepared ahead of its turn: ${preparedAhead[host.name]}`);
      prepared.set(host.name, Promise.resolve());
    }
    if (!prepared.has(host.name)) {
      // Called while holding the host's slot; a parked preparation gives it back until an operator decides.
      prepared.set(host.name, steps.run(id, () => calls.call('deploy', 'prepareHost', `prepare ${host.name} (${host.address})`, prepareRequest(host)), preparedDetail, heldSlot(slots)));
    }
    return prepared.get(host.name)!;
  };

  // What already runs: asked per host (within the slots), while every earlier part was settled the same way.
  let settled = false;
  const surveyedAhead: Record<string, SurveyedContainer[]> = {};
  const preparedHere: Record<string, string> = {};
  const preparingAhead: Promise<void>[] = [];
  let settle = input.settle;
  if (settle) {
    // The hosts prepared here are prepared while they are surveyed: a settled part needs them prepared, and a part that
    // is not starts with it. (Not before a part's turn: that is host work. Guarded: runs in flight prepare after.)
    if (!input.aheadOfTurn && patched(PREPARE_WHILE_SURVEYED)) for (const h of busy) void slots.run(() => prepare(h)).catch(() => undefined);
    const found = (h: PlannedHost) => (surveyedBefore[h.name] ? Promise.resolve(new Map(surveyedBefore[h.name].map((c) => [c.container, c]))) : slots.run(() => survey(h)));
    // A host surveyed ahead whose containers all run and answer is prepared at once, in a slot, while the other surveys
    // and this part's own preparation go on: its part (settled too, on a redeploy where nothing changed) then needs no
    // preparation at its turn. Not for a part started ahead of its turn (it does no host work before it).
    const surveyedHost = async (h: PlannedHost) => {
      const f = await found(h);
      if (!own.has(h.name) && !input.aheadOfTurn && runsAhead(f, h) && patched(PREPARE_AHEAD_OF_TURN)) preparingAhead.push(prepareAhead(h));
      return [h.name, f] as const;
    };
    const surveys = new Map(await Promise.all([...busy, ...ahead].map(surveyedHost)));
    for (const h of [...busy, ...ahead]) {
      const ahead = laterOn(h.name).map((c) => surveys.get(h.name)?.get(c.name)).filter((c) => c !== undefined);
      if (ahead.length && !surveyedBefore[h.name]) surveyedAhead[h.name] = ahead;
    }
    if (input.imagesToCome) await imagesIn();
    const runs = runsAsPlanned(surveys);
    if (input.aheadOfTurn) {
      await getExternalWorkflowHandle(input.runId).signal(partReadySignal, { part: steps.result().workflowId, settled: runs });
      await condition(() => proceed !== undefined);
      if ('blocked' in proceed!) return blockedOutcome(proceed.blocked);
      // Not settled after all: a part before this one needed work, so these containers are reconciled and gated again,
      // and its hosts prepared again (the preparation ahead may be long past).
      settle = proceed!.settle;
      if (!settle) preparedAhead = {};
    }
    settled = settle && runs && (await settleBySurvey(surveys));
  }
  let ok = settled;
  // Hosts with nothing to run here are only prepared, after the hosts that gate the stage have their slots.
  const prepareIdle = () => plan.hosts.filter((h) => own.has(h.name) && !containersOn.get(h.name)!.length).map((h) => slots.run(() => prepare(h)).catch(() => undefined));
  let idle: Promise<unknown>[];
  if (!settled) {
    if (input.imagesToCome) await imagesIn();
    // Each container's outcome, settled by its host's bring-up: fulfilled when healthy (or its gate was skipped).
    const outcomes = new Map(containers.map((c) => [containerKey(c), deferred()]));
    const bringUps = busy.map((h) => slots.run(() => bringUpHost(h, outcomes)));
    idle = prepareIdle();
    const outcome = (c: PlannedContainer) => outcomes.get(containerKey(c))!.promise;
    const plain = Promise.allSettled(containers.filter((c) => !c.quorum).map(outcome)).then((rs) => rs.every((r) => r.status === 'fulfilled'));
    const gates = [...clustersOf(containers, (c) => c)].map(([service, members]) => quorumGate(service, members.map((c) => ({ c, done: outcome(c) }))));
    ok = (await Promise.all([plain, ...gates])).every(Boolean);
    await getExternalWorkflowHandle(input.runId).signal(partGateSignal, { part: steps.result().workflowId, ok, settled: false, surveyedAhead, ...(ok ? {} : { stoppedBy: stopper() }) });
    await Promise.allSettled(bringUps);
  } else {
    // The run passes what was prepared ahead on with this gate: wait for it (it ran beside this part's own work). Only
    // when there is some: an await here would put the idle hosts' preparations before the gate in the command order,
    // which runs recorded before preparation ahead do not have.
    if (preparingAhead.length) await Promise.all(preparingAhead);
    idle = prepareIdle();
    await getExternalWorkflowHandle(input.runId).signal(partGateSignal, { part: steps.result().workflowId, ok: true, settled: true, surveyedAhead, ...(Object.keys(preparedHere).length ? { preparedAhead: preparedHere } : {}) });
  }
  await Promise.all([...idle, ...preparingAhead]);
  return partOutcome({ ...steps.result(), ok: ok && !steps.failures.length, settled });

  function prepareRequest(host: PlannedHost) {
    return { host, ssh: plan.ssh, registry: { address: plan.registry.address, ca: plan.registry.ca }, ...simulate };
  }

  /** Prepares a host of a later part in a slot, once and without retries: one that fails is left to its own part, where
   *  a failure can park. What it found goes to the run with this part's gate. */
  async function prepareAhead(host: PlannedHost): Promise<void> {
    try {
      const r = await slots.run(() => calls.call('probe', 'prepareHost', `prepare ${host.name} (${host.address}) ahead of its turn`, prepareRequest(host)));
      preparedHere[host.name] = preparedDetail(r);
    } catch {
      // Its own part prepares it at its turn.
    }
  }

  /** Whether everything a host surveyed ahead runs later answers (its part may then be settled at its turn). */
  function runsAhead(found: Map<string, SurveyedContainer> | null | undefined, host: PlannedHost): boolean {
    return Boolean(found) && laterOn(host.name).every((c) => found!.get(c.name)?.healthy);
  }

  /** A part started ahead of its turn whose turn never came (a part before it failed): its steps are blocked. */
  function blockedOutcome(reason: string): HostPartResult {
    for (const s of steps.log.all()) if (s.status === 'pending') steps.log.finish(s.id, 'blocked', reason);
    return { ...steps.result(), ok: false, settled: false };
  }

  /** The step that kept the gate shut: the first failed, blocked or parked start, health or quorum step. */
  function stopper(): { id: string; message: string } {
    const s = steps.log.all().find((x) => ['start', 'health', 'quorum'].includes(x.kind) && ['failed', 'blocked', 'parked'].includes(x.status));
    return { id: s?.id ?? steps.result().workflowId, message: s ? `${s.status}: ${(s.detail ?? '').split('\n')[0]}` : 'the gate did not pass' };
  }

  /** Asks what runs of this host's containers, this stage's and the later ones' (passed on to their parts). */
  async function survey(host: PlannedHost): Promise<Map<string, SurveyedContainer> | null> {
    const mine = containersOn.get(host.name)!;
    const later = laterOn(host.name);
    const id = stepId('survey', part.stage, host.name);
    steps.log.start(id);
    try {
      const r = await calls.call('deploy', 'surveyHost', `survey ${mine.length + later.length} containers on ${host.name}`, { host: hostRef(host), containers: [...mine, ...later], ssh: plan.ssh, ...simulate });
      const healthy = new Set(r.containers.filter((c) => c.healthy).map((c) => c.container));
      const count = (list: PlannedContainer[]) => `${list.filter((c) => healthy.has(c.name)).length} of ${list.length}`;
      steps.log.finish(id, 'completed', mine.length ? `${count(mine)} run as planned and answer${later.length ? `; later stages: ${count(later)}` : ''}` : `ahead of its turn: ${count(later)} run as planned and answer`);
      return new Map(r.containers.map((c) => [c.container, c]));
    } catch (e) {
      steps.log.finish(id, 'skipped', `survey failed, each container goes through its own steps: ${failureMessage(e)}`);
      return null;
    }
  }

  /** True when every container runs from its pushed image and spec, answers, and each cluster has its quorum. */
  function runsAsPlanned(surveys: Map<string, Map<string, SurveyedContainer> | null>): boolean {
    const found = (c: PlannedContainer) => surveys.get(c.host)?.get(c.name);
    if (!containers.every((c) => Boolean(found(c)?.healthy) && found(c)?.imageRef === refs[c.image])) return false;
    const inQuorum = (members: PlannedContainer[]) => members.filter((c) => found(c)?.inQuorum).length;
    return [...clustersOf(containers, (c) => c).values()].every((members) => inQuorum(members) >= quorumSize(members.length));
  }

  /** For a part whose containers all run as planned: once the hosts prepared here are found prepared, its steps are
   *  recorded as done, and nothing runs. */
  async function settleBySurvey(surveys: Map<string, Map<string, SurveyedContainer> | null>): Promise<boolean> {
    const found = (c: PlannedContainer) => surveys.get(c.host)?.get(c.name);
    const clusters = clustersOf(containers, (c) => c);
    const inQuorum = (members: PlannedContainer[]) => members.filter((c) => found(c)?.inQuorum);
    // The hosts prepared here must still be prepared (a no-op when they are).
    const preparations = await Promise.allSettled(busy.map((h) => slots.run(() => prepare(h))));
    if (preparations.some((r) => r.status === 'rejected')) return false;
    for (const c of containers) {
      // Finished without having run: a step that never started gets the same start and end time.
      steps.log.finish(stepId('start', c.name, c.host), 'completed', 'unchanged');
      steps.log.finish(stepId('health', c.name, c.host), 'completed', 'answered at the survey');
      steps.containers.unchanged++;
    }
    for (const c of busy) steps.log.finish(stepId('pull', part.stage, c.name), 'skipped', 'every container runs as planned');
    for (const [service, members] of clusters) {
      const ok = inQuorum(members);
      steps.log.finish(stepId('quorum', service), 'completed', `${ok.length} of ${members.length} members in quorum (${ok.map((c) => c.host).join(', ')}), ${quorumSize(members.length)} needed, at the survey`);
    }
    return true;
  }

  /** One host, holding its slot: preparation, a pull of its images, then each container's start and gate. */
  async function bringUpHost(host: PlannedHost, outcomes: Map<string, Deferred>): Promise<void> {
    const mine = containersOn.get(host.name)!;
    let ready: Promise<unknown>;
    try {
      await prepare(host);
      ready = pull(host, mine);
    } catch (e) {
      const skipped = e instanceof Skipped;
      steps.log.finish(stepId('pull', part.stage, host.name), skipped ? 'skipped' : 'blocked', `preparation of ${host.name} ${skipped ? 'was skipped by an operator' : 'failed'}`);
      ready = Promise.reject(e);
    }
    // The pull is not a gate: a start pulls its own image when the pull failed.
    await Promise.allSettled(mine.map((c) => {
      const { resolve, reject } = outcomes.get(containerKey(c))!;
      return bringUp(c, ready).then(resolve, (e: unknown) => {
        reject(e);
        throw e;
      });
    }));
  }

  /** Pulls the images this host runs in this stage before they start; a start pulls its own image if this fails. */
  async function pull(host: PlannedHost, mine: PlannedContainer[]): Promise<void> {
    const id = stepId('pull', part.stage, host.name);
    const pulled = [...new Set(mine.map((c) => refs[c.image]).filter(Boolean))];
    if (!pulled.length) {
      steps.log.finish(id, 'blocked', 'no image of this host was pushed');
      return;
    }
    steps.log.start(id);
    try {
      const r = await calls.call('deploy', 'pullImages', `pull ${pulled.length} images on ${host.name}`, { host: hostRef(host), imageRefs: pulled, registry: plan.registry, ssh: plan.ssh, ...simulate });
      steps.log.finish(id, 'completed', `${r.pulled.length} pulled, ${r.present.length} already there`);
    } catch (e) {
      steps.log.finish(id, 'skipped', `pull failed, each start pulls its own image: ${failureMessage(e)}`);
    }
  }

  /** A container's start and gate: true when it is healthy (or its gate was skipped); false when an operator skipped
   *  its start or its host's preparation (the rollout goes on without it); throws when it failed or is blocked. */
  async function bringUp(c: PlannedContainer, ready: Promise<unknown>): Promise<boolean> {
    const startId = stepId('start', c.name, c.host);
    const healthId = stepId('health', c.name, c.host);
    const notRun = (status: 'blocked' | 'skipped', reason: string) => {
      steps.log.finish(startId, status, reason);
      steps.log.finish(healthId, status, reason);
    };
    const imageRef = refs[c.image];
    if (!imageRef) {
      notRun('blocked', unavailable[c.image] ?? `image ${c.image} was not pushed`);
      throw new Blocked(`image ${c.image} was not pushed`);
    }
    try {
      await ready;
    } catch (e) {
      if (e instanceof Skipped) {
        notRun('skipped', `not started: the preparation of ${c.host} was skipped by an operator`);
        return false;
      }
      notRun('blocked', `preparation of ${c.host} failed`);
      throw new Blocked(`preparation of ${c.host} failed`);
    }
    const host = hostRef(hosts.get(c.host)!);
    const request = { runId: input.runId, topology: plan.topology, container: c, host, imageRef, registry: plan.registry, ssh: plan.ssh, ...simulate };
    if (replacements.rolling()) return replacements.bringUp(request);
    try {
      const started = await steps.run(startId, () => calls.call('deploy', 'startContainer', `start ${c.name} on ${c.host}`, request), (r) => r.outcome);
      steps.containers[started.outcome]++;
    } catch (e) {
      const skipped = e instanceof Skipped;
      steps.log.finish(healthId, skipped ? 'skipped' : 'blocked', `start of ${c.name} ${skipped ? 'was skipped by an operator' : 'failed'}`);
      if (skipped) return false;
      throw e;
    }
    // A skipped gate lets the stage go on: the container runs, unproven, and counts as healthy (as the operator said).
    return steps.run(healthId, () => calls.call('health', 'checkHealth', `health gate ${c.name} on ${c.host}`, { container: c, host, ssh: plan.ssh, ...simulate }), (r) => `answered after ${r.answeredAfterMs} ms`).then(() => true, (e: unknown) => {
      if (e instanceof Skipped) return true;
      throw e;
    });
  }

  /** A clustered service's gate: waits for a majority of its members to be healthy (or for that to become
   *  impossible), then asks them whether they have quorum. A minority that parks does not hold the stage. */
  async function quorumGate(service: string, members: { c: PlannedContainer; done: Promise<boolean> }[]): Promise<boolean> {
    const id = stepId('quorum', service);
    const need = quorumSize(members.length);
    const healthy: PlannedContainer[] = [];
    let failed = 0;
    await new Promise<void>((resolve) => {
      const settle = () => (healthy.length >= need || failed > members.length - need ? resolve() : undefined);
      // A member an operator went on without (skipped) is not healthy: it counts against the quorum.
      for (const m of members) m.done.then((ok) => (ok ? healthy.push(m.c) : failed++), () => failed++).then(settle, settle);
    });
    if (healthy.length < need) {
      steps.log.finish(id, 'blocked', `${healthy.length} of ${members.length} members healthy, ${need} needed for a quorum`);
      return false;
    }
    const first = members[0].c;
    const request = {
      service, members: members.length, need, command: first.quorum?.command, timeoutSeconds: first.health?.timeoutSeconds ?? 120, ssh: plan.ssh, ...simulate,
      healthy: healthy.map((c) => ({ container: c, host: hostRef(hosts.get(c.host)!) })),
    };
    try {
      await steps.run(id, () => calls.call('health', 'checkQuorum', `quorum gate ${service} (${need} of ${members.length})`, request), (r) => `${r.inQuorum.length} of ${members.length} members in quorum (${r.inQuorum.join(', ')}), ${need} needed`);
      return true;
    } catch (e) {
      return e instanceof Skipped && patched(SKIPPED_QUORUM_GOES_ON);
    }
  }
}

function registerSteps(steps: PartSteps, part: HostPart, containersOn: Map<string, PlannedContainer[]>, containers: PlannedContainer[], surveys: (host: string) => boolean, ahead: string[]): void {
  for (const host of part.prepare) steps.add({ id: stepId('prepare', host), kind: 'prepare', target: host, host });
  for (const host of ahead) steps.add({ id: stepId('survey', part.stage, host), kind: 'survey', target: part.stage, host });
  for (const [host, mine] of containersOn) {
    if (!mine.length) continue;
    if (surveys(host)) steps.add({ id: stepId('survey', part.stage, host), kind: 'survey', target: part.stage, host });
    steps.add({ id: stepId('pull', part.stage, host), kind: 'pull', target: part.stage, host });
  }
  for (const c of containers) {
    steps.add({ id: stepId('start', c.name, c.host), kind: 'start', target: c.name, host: c.host });
    steps.add({ id: stepId('health', c.name, c.host), kind: 'health', target: c.name, host: c.host });
  }
  for (const service of new Set(containers.filter((c) => c.quorum).map((c) => c.service))) steps.add({ id: stepId('quorum', service), kind: 'quorum', target: service });
}

/** Hosts by state, from their steps: parked or failed if any step is; done when every step ended; in flight when one runs. */
function hostStates(all: Step[], hosts: string[]): HostStates {
  const byHost = new Map<string, Step[]>(hosts.map((h) => [h, []]));
  for (const s of all) if (s.host) byHost.get(s.host)?.push(s);
  const states: HostStates = { done: 0, inFlight: 0, failed: 0, parked: 0 };
  for (const mine of byHost.values()) {
    if (mine.some((s) => s.status === 'parked')) states.parked++;
    else if (mine.some((s) => s.status === 'failed' || s.status === 'blocked')) states.failed++;
    else if (mine.length && mine.every((s) => s.status !== 'pending' && s.status !== 'running')) states.done++;
    else if (mine.some((s) => s.status !== 'pending')) states.inFlight++;
  }
  return states;
}

const preparedDetail = (r: { items: { item: string; outcome: string }[] }) => r.items.map((i) => `${i.item}: ${i.outcome}`).join('; ') || 'nothing to do';

const containerKey = (c: PlannedContainer) => `${c.name}@${c.host}`;

/** A container's outcome: true healthy, false gone on without by an operator; rejected when failed or blocked. */
interface Deferred {
  promise: Promise<boolean>;
  resolve: (healthy: boolean) => void;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  const d = {} as Deferred;
  d.promise = new Promise<boolean>((resolve, reject) => Object.assign(d, { resolve, reject }));
  // Observed by the gates; a rejection here is an outcome, not an unhandled error.
  d.promise.catch(() => undefined);
  return d;
}
