// The run: sequences its parts, each a child workflow with a business id of its own: the image tree (<run>/images),
// then stage by stage, batch by batch, groups of at most HOST_GROUP_SIZE hosts (<run>/stage/<stage>/...). A stage
// starts when every part of the one before passed its gate; a failed batch stops the next. The run's own history and
// summary grow with the number of parts, not of hosts or containers; operators' decisions come here and are passed
// on to the part where the step waits.
import { ApplicationFailure, condition, getExternalWorkflowHandle, ParentClosePolicy, patched, setCurrentDetails, setHandler, startChild, upsertSearchAttributes, workflowInfo, type ChildWorkflowHandle } from '@temporalio/workflow';
import { compactSlice, expandPlan, type CompactPlan } from '../model/compact-plan';
import { HOST_GROUP_SIZE, hostCount, hostParts, partLabel, partWorkflowId, type HostPart } from '../model/parts';
import { dependentsOf, type Plan } from '../model/plan';
import { batchName } from '../model/rollout';
import { Semaphore } from '../model/semaphore';
import { decideUpdate, decisionSignal, imagesSettledSignal, partGateSignal, type PartGate, partImagesSignal, partReadySignal, proceedSignal, runSummaryQuery, SEARCH_ATTRIBUTES, stepParkedSignal, stepUnparkedSignal, type TaskQueues } from '../model/shared';
import type { SurveyedContainer } from '../model/activity-types';
import type { Decision, PartRecord, PartResult, RunSummary } from '../model/steps';
import { rolloutHosts, type HostPartResult } from './hosts';
import { partResultOf } from './part-steps';
import { buildImageTree, type ImageTreeResult } from './images';
import { REMOVE_ORPHANS, removeOrphansAfterRun } from './orphans';

/** Patch id: parts of later batches start ahead of their turn while what runs settles them. */
export const PARTS_AHEAD_OF_TURN = 'parts-ahead-of-turn';
/** Patch id: while what runs may settle parts, a batch's parts start before its images are looked up. */
export const PARTS_BEFORE_IMAGES = 'parts-before-images';

export interface PipelineInput {
  runId: string;
  /** The plan in compact form (model/compact-plan.ts): the run expands it, and gives each part its own slice. */
  plan: CompactPlan;
  queues: TaskQueues;
  noCache?: boolean;
  /** Set by `resume`: the run this one continues. Nothing is taken from it on trust: every step checks the registry
   *  and the hosts, and finds finished work finished. */
  resumedFrom?: string;
  /** `rollback --to`: the digests the release tag points at are deployed as they are; no image is built. */
  rollback?: { from?: string; to: string; digests: Record<string, string> };
  /** `run --remove-orphans`: once every stage is healthy, remove the topology's containers it no longer plans. */
  removeOrphans?: boolean;
  /** Started by a schedule (`contrail-deploy schedule`): the run is named by its workflow id, the schedule's id with
   *  the time Temporal appends, as runId cannot be known when the schedule is made. */
  scheduled?: boolean;
}

export async function deployPipeline(input: PipelineInput): Promise<RunSummary> {
  if (input.scheduled) input = { ...input, runId: workflowInfo().workflowId };
  const plan = expandPlan(input.plan);
  const summary: RunSummary = {
    runId: input.runId, status: 'running', release: plan.release, topology: plan.topology, resumedFrom: input.resumedFrom,
    ...(input.rollback ? { rollback: { from: input.rollback.from, to: input.rollback.to } } : {}),
    stageOrder: plan.stages.map((s) => s.name),
    images: { built: 0, skipped: 0, failed: 0, blocked: 0 },
    containers: { created: 0, recreated: 0, unchanged: 0 },
    digests: {}, buildLogs: {}, failedSteps: [], parked: [], decisions: [], parts: [],
  };
  setHandler(runSummaryQuery, () => summary);
  const parking = new Parking(input.runId, plan, summary);

  // Images: refs as the image part pushes them, so a stage starts once its own images are there.
  const refs: Record<string, string> = {};
  const unavailable: Record<string, string> = {};
  setHandler(imagesSettledSignal, (settled) => {
    for (const { image, ref, failed } of settled) {
      if (ref) refs[image] = ref;
      else unavailable[image] = failed ?? `image ${image} was not pushed`;
    }
  });
  const settledAlready = (names: string[]) => names.every((n) => refs[n] || unavailable[n]);
  const imagesSettled = (names: string[]) => condition(() => settledAlready(names));
  // A rollback deploys what its release tag points at: those are the refs, and nothing is built (its plan has no images).
  if (input.rollback) {
    Object.assign(refs, input.rollback.digests);
    summary.digests = { ...input.rollback.digests };
  }
  const images = plan.images.length ? startImages(input, summary, unavailable).then((r) => r && applyImages(r, summary)) : Promise.resolve();

  // Parts report their gate; the run goes on when every part of a batch reported it. While parts may be settled by
  // what runs, each host is surveyed once, by its first part, for all its stages: later parts get those results.
  const gates = new Map<string, PartGate>();
  const surveyed = new Map<string, SurveyedContainer[]>();
  const preparedAhead = new Map<string, string>();
  setHandler(partGateSignal, (gate) => {
    const { part } = gate;
    gates.set(part, gate);
    for (const [host, found] of Object.entries(gate.surveyedAhead ?? {})) surveyed.set(host, found);
    for (const [host, detail] of Object.entries(gate.preparedAhead ?? {})) preparedAhead.set(host, detail);
  });

  // Parts started ahead of their turn (below) say whether what runs would settle them, then wait for their turn.
  const ready = new Map<string, boolean>();
  setHandler(partReadySignal, ({ part, settled }) => void ready.set(part, settled));

  const running: Promise<void>[] = [];
  let stagesOk = true;
  let stopReason = 'an earlier stage failed';
  // The step that stopped the rollout, when no step failed (a quorum gate blocked by members an operator skipped).
  let stoppedBy: { id: string; message: string } | undefined;
  // What already runs settles parts only while every earlier part was settled so: after one that needed work, later
  // containers are reconciled and gated again, after it.
  let settling = true;
  // Every part is on record from the start (pending), so `status` shows what is still to come.
  const batched: BatchPart[][] = hostParts(plan).flat().map((parts) => parts.filter((p) => p.hosts.length).map((p) => ({ p, record: partRecord(input.runId, p, 'pending') })));
  for (const records of batched) summary.parts.push(...records.map((r) => r.record));
  /** The containers a batch's parts run in their stage: what images they need, and which hosts are busy. */
  const batchContainers = (records: BatchPart[]) => {
    const stage = plan.stages.find((s) => s.name === records[0]?.p.stage);
    return stage?.containers.filter((c) => records.some((r) => r.p.hosts.includes(c.host))) ?? [];
  };
  const neededImages = (records: BatchPart[]) => [...new Set(batchContainers(records).map((c) => c.image))];
  const busyHosts = (records: BatchPart[]) => [...new Set(batchContainers(records).map((c) => c.host))];
  /** While surveys settle parts, the batches after the current one whose hosts were all surveyed already and whose
   *  images are pushed start now, ahead of their turn: each decides at once whether it is settled and waits, with no
   *  host work, for its turn. A redeploy where nothing changed then costs one round of parts, not one per batch. */
  const startAhead = (after: number) => {
    for (const records of batched.slice(after + 1)) {
      if (records.some((r) => r.ahead !== undefined)) continue;
      if (!neededImages(records).every((n) => refs[n]) || !busyHosts(records).every((h) => surveyed.has(h))) return;
      for (const r of records) {
        r.preparedAhead = r.p.prepare.filter((h) => preparedAhead.has(h));
        r.ahead = startHostPart(input, r.p, r.record, { settle: true, surveyed, preparedAhead, ahead: [] }, parking, refs, unavailable, true);
      }
    }
  };
  for (const [index, records] of batched.entries()) {
    const live = records.map((r) => r.p);
    if (!stagesOk) {
      for (const r of records) {
        Object.assign(r.record, { status: 'blocked', detail: stopReason });
        if (r.ahead) running.push(blockAhead(r, stopReason));
      }
      continue;
    }
    // While what runs may settle them, the batch's parts start before its images are looked up: their surveys and
    // preparations go on meanwhile, and each part is told the refs when they are in (on a redeploy where nothing
    // changed, the lookups are then off the critical path). Guarded: runs in flight wait for the images first.
    const early = settling && !settledAlready(neededImages(records)) && patched(PARTS_BEFORE_IMAGES);
    if (!early) await imagesSettled(neededImages(records));
    // The batch's parts share the host limit: `parallel` of them at once, each with its own slots.
    const starts = new Semaphore(live[0]?.parallel ?? 1);
    // While surveys may settle parts, the batch's first part also surveys hosts of later batches, ahead of their turn
    // (as many as keep it within a group's size): a redeploy where nothing changed does not wait for one survey per batch.
    const upcoming = batched.slice(index + 1).flatMap((later) => later.flatMap((r) => r.p.hosts)).filter((h) => !surveyed.has(h) && !live.some((p) => p.hosts.includes(h)));
    const ahead = settling ? [...new Set(upcoming)].slice(0, Math.max(0, HOST_GROUP_SIZE - (live[0]?.hosts.length ?? 0))) : [];
    for (const [i, r] of records.entries()) {
      const { p, record } = r;
      running.push(starts.run(async () => {
        const child = r.ahead ? await takeTurn(r) : await startHostPart(input, p, record, { settle: settling, surveyed, preparedAhead, ahead: i === 0 ? ahead : [] }, parking, refs, unavailable, false, early ? imagesSettled : undefined);
        await condition(() => gates.has(record.workflowId));
        return child;
      }).then((child) => finishPart(child, record, summary)));
    }
    await condition(() => records.every(({ record }) => gates.has(record.workflowId)));
    const results = records.map(({ record }) => gates.get(record.workflowId)!);
    settling = settling && results.every((r) => r.settled);
    if (!settling) {
      surveyed.clear();
      preparedAhead.clear();
    }
    stagesOk = results.every((r) => r.ok);
    stoppedBy ??= results.find((r) => r.stoppedBy)?.stoppedBy;
    if (!stagesOk && live[0]?.batch && live[0].batch.of > 1) stopReason = `${batchName(live[0].batch)} failed`;
    // Guarded: runs in flight before parts started ahead of their turn go on starting each batch at its turn.
    if (settling && stagesOk && patched(PARTS_AHEAD_OF_TURN)) startAhead(index);
  }
  await Promise.all([...running, images]);

  /** A part started ahead of its turn, now at its turn: told whether it may still be settled. One that is settled and
   *  has no host left to prepare (none, or all prepared ahead of their turn) cannot fail: its gate is taken as passed at
   *  once, so the batches after it go on too. */
  async function takeTurn(r: BatchPart): Promise<ChildWorkflowHandle<typeof rolloutHosts>> {
    const child = await r.ahead!;
    const id = r.record.workflowId;
    await condition(() => ready.has(id));
    r.record.status = 'running';
    const told = child.signal(proceedSignal, { settle: settling });
    // Taken as passed before the signal is delivered, so that every such part is told in the same workflow task.
    if (settling && ready.get(id) && r.p.prepare.every((h) => r.preparedAhead?.includes(h))) gates.set(id, { part: id, ok: true, settled: true });
    await told;
    return child;
  }

  /** A part started ahead of its turn whose turn will not come: it records its steps as blocked and ends. */
  async function blockAhead(r: BatchPart, reason: string): Promise<void> {
    const child = await r.ahead!;
    await child.signal(proceedSignal, { blocked: reason });
    await child.result().catch(() => undefined);
  }

  // A run that did not bring every stage up failed, even when no step did (its gate was shut by skipped members).
  if (!stagesOk && !summary.failedSteps.length && stoppedBy) summary.failedSteps.push({ ...stoppedBy, part: input.runId });
  const failures = summary.failedSteps;
  summary.status = failures.length || !stagesOk || summary.parts.some((p) => p.status === 'failed') ? 'failed' : 'completed';
  // Guarded: only runs started with --remove-orphans reach it, and only once every stage is healthy.
  if (summary.status === 'completed' && input.removeOrphans && !plan.simulate && patched(REMOVE_ORPHANS)) await removeOrphansAfterRun(input.runId, plan, input.queues, summary);
  summary.parked = [];
  summary.failedStep = failures[0] ? { id: failures[0].id, message: failures[0].message } : undefined;
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: summary.status }]);
  if (summary.status === 'failed') {
    const first = failures[0] ?? { id: 'run', message: 'a part failed' };
    throw ApplicationFailure.nonRetryable(
      `step ${first.id} failed: ${first.message}${failures.length > 1 ? ` (and ${failures.length - 1} more failed steps)` : ''}`,
      'PipelineFailed',
      summary,
    );
  }
  return summary;
}

async function startImages(input: PipelineInput, summary: RunSummary, unavailable: Record<string, string>): Promise<ImageTreeResult | undefined> {
  const { release, registry, images, concurrency, rollout } = input.plan;
  const workflowId = partWorkflowId(input.runId, 'images');
  const record: PartRecord = { workflowId, kind: 'images', label: 'images', hosts: 0, status: 'running', steps: {} };
  summary.parts.push(record);
  const child = await startChild(buildImageTree, {
    workflowId,
    args: [{ runId: input.runId, plan: { release, registry, images, concurrency, rollout }, queues: input.queues, noCache: input.noCache }],
    staticSummary: `build and push ${images.length} images for release ${release}`,
    parentClosePolicy: ParentClosePolicy.TERMINATE,
  });
  try {
    return await child.result();
  } catch (e) {
    // A part whose steps failed carries its result; anything else (terminated, say) is the part's own failure.
    const result = partResultOf<ImageTreeResult>(e);
    if (result) return result;
    record.status = 'failed';
    record.detail = (e as Error).message;
    summary.failedSteps.push({ id: 'images', message: (e as Error).message, part: workflowId });
    // Whatever the part had not pushed will not be: the stages that need it are blocked, not left waiting.
    for (const image of images) unavailable[image.name] ??= `the image part failed: ${(e as Error).message}`;
    return undefined;
  }
}

function applyImages(r: ImageTreeResult, summary: RunSummary): void {
  summary.images = r.images;
  summary.digests = r.digests;
  summary.buildLogs = r.buildLogs;
  summary.releaseTag = r.releaseTag;
  const record = summary.parts.find((p) => p.kind === 'images')!;
  record.status = r.failures.length ? 'failed' : 'completed';
  record.steps = r.counts;
  summary.failedSteps.unshift(...r.failures.map((f) => ({ ...f, part: r.workflowId })));
}

function partRecord(runId: string, p: HostPart, status: PartRecord['status'], detail?: string): PartRecord {
  return {
    workflowId: partWorkflowId(runId, p), kind: 'hosts', label: partLabel(p), stage: p.stage,
    ...(p.batch ? { batch: batchName(p.batch) } : {}),
    hosts: p.hosts.length, status, steps: {}, ...(detail ? { detail } : {}),
  };
}

/** A part of a stage batch, as the run keeps it: the part, its record, and its workflow if started ahead of its turn. */
interface BatchPart {
  p: HostPart;
  record: PartRecord;
  ahead?: Promise<ChildWorkflowHandle<typeof rolloutHosts>>;
  /** Its hosts that an earlier part prepared ahead of their turn, as passed to it when it started ahead of its turn. */
  preparedAhead?: string[];
}

/** Starts a part. One started before its images are settled (imagesToCome: waits for the names given) is told their
 *  refs once they are. */
async function startHostPart(input: PipelineInput, p: HostPart, record: PartRecord, survey: { settle: boolean; surveyed: Map<string, SurveyedContainer[]>; preparedAhead: Map<string, string>; ahead: string[] }, parking: Parking, refs: Record<string, string>, unavailable: Record<string, string>, aheadOfTurn = false, imagesToCome?: (names: string[]) => Promise<void>): Promise<ChildWorkflowHandle<typeof rolloutHosts>> {
  const { settle } = survey;
  const preparedAhead = settle ? Object.fromEntries(p.prepare.filter((h) => survey.preparedAhead.has(h)).map((h) => [h, survey.preparedAhead.get(h)!])) : {};
  // A settling part surveys its hosts' later stages too, unless an earlier part did, and the hosts it surveys ahead.
  const slice = compactSlice(input.plan, p.stage, [...p.hosts, ...survey.ahead], settle);
  const surveyed = settle ? Object.fromEntries(p.hosts.filter((h) => survey.surveyed.has(h)).map((h) => [h, survey.surveyed.get(h)!])) : {};
  const used = new Set(slice.stages[0].services.map((s) => s.template.image));
  const pick = (from: Record<string, string>) => Object.fromEntries(Object.entries(from).filter(([name]) => used.has(name)));
  if (!aheadOfTurn) record.status = 'running';
  const first = p.hosts[0];
  const last = p.hosts[p.hosts.length - 1];
  const child = await startChild(rolloutHosts, {
    workflowId: record.workflowId,
    args: [{ runId: input.runId, part: p, plan: slice, refs: pick(refs), unavailable: pick(unavailable), settle, surveyed, queues: input.queues, abortAll: parking.abortAll, ...(aheadOfTurn ? { aheadOfTurn } : {}), ...(Object.keys(preparedAhead).length ? { preparedAhead } : {}), ...(imagesToCome ? { imagesToCome: true } : {}) }],
    staticSummary: `${record.label}: ${hostCount(p.hosts.length)} (${first}${p.hosts.length > 1 ? ` ... ${last}` : ''})`,
    staticDetails: `hosts: ${p.hosts.join(', ')}; at most ${p.slots} at once`,
    parentClosePolicy: ParentClosePolicy.TERMINATE,
  });
  if (imagesToCome) {
    await imagesToCome([...used]);
    // A part that ended meanwhile (terminated with the run) needs nothing.
    await child.signal(partImagesSignal, { refs: pick(refs), unavailable: pick(unavailable) }).catch(() => undefined);
  }
  return child;
}

async function finishPart(child: ChildWorkflowHandle<typeof rolloutHosts>, record: PartRecord, summary: RunSummary): Promise<void> {
  let r: HostPartResult;
  try {
    r = await child.result();
  } catch (e) {
    const result = partResultOf<HostPartResult>(e);
    if (result) return applyPart(result, record, summary);
    record.status = 'failed';
    record.detail = (e as Error).message;
    summary.failedSteps.push({ id: record.workflowId, message: (e as Error).message, part: record.workflowId });
    return;
  }
  applyPart(r, record, summary);
}

function applyPart(r: HostPartResult, record: PartRecord, summary: RunSummary): void {
  record.status = r.failures.length ? 'failed' : 'completed';
  record.steps = r.counts;
  record.hostStates = r.hostStates;
  for (const k of ['created', 'recreated', 'unchanged'] as const) summary.containers[k] += r.containers[k];
  summary.failedSteps.push(...r.failures.map((f: PartResult['failures'][number]) => ({ ...f, part: r.workflowId })));
}

/** The run's side of parking: which steps wait where, what the UI shows, and operators' decisions passed on. */
class Parking {
  abortAll = false;
  private readonly parked = new Map<string, NonNullable<RunSummary['parked']>[number]>();

  constructor(private readonly runId: string, private readonly plan: Plan, private readonly summary: RunSummary) {
    setHandler(stepParkedSignal, (p) => {
      this.parked.set(p.id, p);
      this.publish();
    });
    setHandler(stepUnparkedSignal, ({ step }) => {
      this.parked.delete(step);
      this.publish();
    });
    setHandler(decideUpdate, async (d) => {
      const ids = d.step ? [d.step] : [...this.parked.keys()];
      if (d.action === 'abort' && !d.step) this.abortAll = true;
      const parts = new Set(ids.map((id) => this.parked.get(id)!.part));
      for (const id of ids) summary.decisions!.push({ ...d, step: id, at: new Date().toISOString() });
      await Promise.all([...parts].map((part) => getExternalWorkflowHandle(part).signal(decisionSignal, d)));
      // Abort of the whole run also reaches the other running parts, so that later failures there fail at once too;
      // a part that ended meanwhile needs nothing.
      const others = d.action === 'abort' && !d.step ? summary.parts.filter((p) => p.status === 'running' && !parts.has(p.workflowId)) : [];
      await Promise.all(others.map((p) => getExternalWorkflowHandle(p.workflowId).signal(decisionSignal, d).catch(() => undefined)));
      return { steps: ids, action: d.action };
    }, { validator: (d) => this.validate(d) });
  }

  private validate(d: Decision): void {
    if (!['retry', 'skip', 'abort'].includes(d.action)) throw new Error(`unknown action "${d.action}": retry, skip or abort`);
    const list = [...this.parked.keys()].join(', ') || 'none';
    if (!d.step) {
      if (!this.parked.size) throw new Error('no step is parked');
      if (d.action !== 'abort' && this.parked.size > 1) throw new Error(`${this.parked.size} steps are parked (${list}): name one with --step`);
      return;
    }
    if (!this.parked.has(d.step)) throw new Error(`step ${d.step} is not parked (parked: ${list})`);
    const dependents = dependentsOf(this.plan, d.step);
    if (d.action === 'skip' && dependents.length && !d.force) {
      throw new Error(`step ${d.step} has dependents (${dependents.slice(0, 5).join(', ')}${dependents.length > 5 ? ', ...' : ''}): skipping it blocks them; pass --force to skip anyway`);
    }
  }

  private publish(): void {
    const parked = [...this.parked.values()];
    this.summary.parked = parked;
    for (const record of this.summary.parts) {
      if (record.status === 'running' || record.status === 'parked') record.status = parked.some((p) => p.part === record.workflowId) ? 'parked' : 'running';
    }
    // What the UI shows as the run's current details: why it waits, and what an operator can do.
    setCurrentDetails(parked.slice(0, 20).map((p) => `PARKED ${p.id}${p.host ? ` on ${p.host}` : ''} in ${p.part}: ${p.error.split('\n')[0]}\nDecide: contrail-deploy retry|skip|abort ${this.runId} --step ${p.id}`).join('\n\n') + (parked.length > 20 ? `\n\n(and ${parked.length - 20} more parked steps: contrail-deploy status ${this.runId} --failed)` : ''));
    const status = parked.length ? 'parked' : 'running';
    if (this.summary.status !== status) {
      this.summary.status = status;
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: status }]);
    }
  }
}
