// `contrail-deploy schedule`: runs (or builds only) on a cron schedule, on Temporal Schedules. Each scheduled run is
// a deployPipeline like `run` starts, named by the schedule's id with the time Temporal appends, with the schedule as
// its initiator (the Initiator search attribute, and Temporal's own TemporalScheduledById): `history` and the UI show
// it. A run still going when the next one is due makes that one skip (overlap policy skip).
import * as os from 'os';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import { loadPlan } from '../lib/load';
import { connectClient } from '../lib/temporal';
import { compactPlan } from '../model/compact-plan';
import { SEARCH_ATTRIBUTES, taskQueues } from '../model/shared';
import { deployPipeline } from '../workflows';
import type { Command } from './command';
import { warnWithoutWorkers } from './run';
import { onePositional, UsageError } from './usage';
import { queuePrefix } from './worker';

/** What a schedule remembers of how it was made, for `list` and `describe` (Temporal keeps cron strings only as
 *  compiled calendars). */
interface ScheduleMemo {
  topology: string;
  topologyFile: string;
  release: string;
  cron: string;
  buildOnly: boolean;
  createdBy: string;
}

/** Bad input the user can fix: one line, exit 2 (no usage text: the command was well formed). */
class BadInput extends Error {}

const SUBCOMMANDS: Record<string, (client: Client, args: string[], values: Record<string, unknown>) => Promise<number>> = {
  create: createSchedule,
  list: listSchedules,
  describe: describeSchedule,
  pause: (client, args, values) => changeSchedule(client, args, (h) => h.pause(String(values.note ?? `paused by ${whoAmI()}`)), 'paused: no run starts until "unpause"'),
  unpause: (client, args, values) => changeSchedule(client, args, (h) => h.unpause(String(values.note ?? `unpaused by ${whoAmI()}`)), 'unpaused'),
  trigger: triggerSchedule,
  delete: (client, args) => changeSchedule(client, args, (h) => h.delete(), 'deleted (runs it started stay, in history)'),
};

export const scheduleCommand: Command = {
  name: 'schedule',
  summary: 'runs or builds on a cron schedule (create | list | describe | pause | unpause | trigger | delete)',
  usage: `Usage: contrail-deploy schedule create <topology.yaml> --cron "<expr>" [--build-only] [--id ID]
       contrail-deploy schedule list [--json]
       contrail-deploy schedule describe <id> [--json]
       contrail-deploy schedule pause|unpause <id> [--note TEXT]
       contrail-deploy schedule trigger <id>
       contrail-deploy schedule delete <id>

  A Temporal Schedule that starts the pipeline on the topology, as "run" does (--build-only: as "build" does, every
  image, no hosts). The cron expression has five fields, minute hour day-of-month month day-of-week, in UTC (or
  "CRON_TZ=Europe/Paris 0 3 * * *"); @daily, @hourly and the like work too. The plan is taken when the schedule is
  made: to pick up a changed topology, delete the schedule and create it again (image sources are read at each
  build). A run still going when the next is due makes that one skip. Each run is named <id>-<time> and lists in
  "history" and the UI with "schedule <id>" as its initiator. The schedule's task queues are this shell's
  (CONTRAIL_TASK_QUEUE_PREFIX): workers must poll them ("contrail-deploy worker").
  --id ID     the schedule's id (default <topology>-run, or <topology>-build with --build-only)
  trigger     starts a run now (skipped when one of this schedule's runs is still going); prints its run id
  A cron expression that does not parse, or a schedule id that does not exist, is one line and exit code 2.`,
  options: { cron: { type: 'string' }, 'build-only': { type: 'boolean' }, id: { type: 'string' }, note: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    const [sub, ...args] = positionals;
    const action = sub ? SUBCOMMANDS[sub] : undefined;
    if (!action) throw new UsageError(sub ? `unknown subcommand "${sub}": one of ${Object.keys(SUBCOMMANDS).join(', ')}` : 'missing the subcommand');
    if (sub !== 'create' && (values.cron !== undefined || values['build-only'] || values.id !== undefined)) throw new UsageError(`--cron, --build-only and --id are for "schedule create", not "${sub}"`);
    try {
      return await action(await connectClient(), args, values);
    } catch (e) {
      if (!(e instanceof BadInput)) throw e;
      console.error(`contrail-deploy schedule ${sub}: ${e.message}`);
      return 2;
    }
  },
};

function whoAmI(): string {
  return `${os.userInfo().username}@${os.hostname()}`;
}

async function createSchedule(client: Client, args: string[], values: Record<string, unknown>): Promise<number> {
  const { plan: full } = loadPlan(onePositional(args, 'topology file'));
  if (values.cron === undefined) throw new UsageError('missing --cron "<expr>" (five fields: minute hour day-of-month month day-of-week, UTC)');
  const cron = String(values.cron).trim();
  const buildOnly = Boolean(values['build-only']);
  const plan = buildOnly ? { ...full, hosts: [], stages: [] } : full;
  const id = String(values.id ?? `${plan.topology}-${buildOnly ? 'build' : 'run'}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) throw new BadInput(`schedule id "${id}" may hold only letters, digits, ".", "_" and "-"`);
  const queues = taskQueues(queuePrefix());
  const initiator = `schedule ${id}`;
  const memo: ScheduleMemo = { topology: plan.topology, topologyFile: plan.topologyFile, release: plan.release, cron, buildOnly, createdBy: whoAmI() };
  const what = buildOnly ? 'Build' : 'Deploy';
  try {
    await client.schedule.create({
      scheduleId: id,
      spec: { cronExpressions: [cron] },
      action: {
        type: 'startWorkflow',
        workflowType: deployPipeline,
        workflowId: id,
        taskQueue: queues.deploy,
        args: [{ runId: id, plan: compactPlan(plan), queues, scheduled: true }],
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTES.release, value: plan.release },
          { key: SEARCH_ATTRIBUTES.topology, value: plan.topology },
          { key: SEARCH_ATTRIBUTES.initiator, value: initiator },
          { key: SEARCH_ATTRIBUTES.status, value: 'running' },
        ],
        staticSummary: `${what} ${plan.topology} release ${plan.release} (schedule ${id})`,
        staticDetails: `${plan.images.length} images to ${plan.registry.address}; hosts ${plan.hosts.map((h) => `${h.name} (${h.address})`).join(', ') || 'none'}; started by schedule ${id} ("${cron}") from ${plan.topologyFile}`,
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: memo as unknown as Record<string, unknown>,
      state: { note: `created by ${memo.createdBy}` },
    });
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) throw new BadInput(`a schedule "${id}" exists already: "contrail-deploy schedule delete ${id}" first, or give another --id`);
    // The server checks the spec; the SDK hands its verdict on as a TypeError ("Minute is not in range [0-59]").
    if (e instanceof TypeError) throw new BadInput(`cron expression "${cron}" does not parse (${e.message}): five fields, minute hour day-of-month month day-of-week, e.g. "0 3 * * *"`);
    throw e;
  }
  await warnWithoutWorkers(client, queues);
  const next = (await client.schedule.getHandle(id).describe()).info.nextActionTimes[0];
  console.log(`schedule ${id} created: ${buildOnly ? 'builds' : 'runs'} ${plan.topologyFile} on "${cron}"${next ? `; next at ${next.toISOString()}` : ''}`);
  return 0;
}

async function handleOf(client: Client, args: string[]): Promise<{ handle: ScheduleHandle; description: ScheduleDescription }> {
  const id = onePositional(args, 'schedule id');
  const handle = client.schedule.getHandle(id);
  try {
    return { handle, description: await handle.describe() };
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) throw new BadInput(`no schedule "${id}" (${client.options.namespace} namespace): "contrail-deploy schedule list" shows them`);
    throw e;
  }
}

function memoOf(d: { memo?: Record<string, unknown> }): Partial<ScheduleMemo> {
  return (d.memo ?? {}) as Partial<ScheduleMemo>;
}

async function listSchedules(client: Client, args: string[], values: Record<string, unknown>): Promise<number> {
  if (args.length) throw new UsageError(`unexpected arguments: ${args.join(' ')}`);
  const rows = [];
  for await (const s of client.schedule.list()) {
    if (s.action?.type !== 'startWorkflow' || s.action.workflowType !== 'deployPipeline') continue;
    const m = memoOf(s);
    rows.push({ id: s.scheduleId, paused: s.state.paused, cron: m.cron ?? null, topologyFile: m.topologyFile ?? null, buildOnly: m.buildOnly ?? false, nextRun: s.info.nextActionTimes[0]?.toISOString() ?? null, lastRun: s.info.recentActions.at(-1)?.action.workflow.workflowId ?? null });
  }
  if (values.json) console.log(JSON.stringify(rows));
  else if (!rows.length) console.log('no schedules: "contrail-deploy schedule create <topology> --cron <expr>" makes one');
  for (const r of values.json ? [] : rows) {
    console.log(`${r.id.padEnd(24)} ${(r.paused ? 'paused' : 'active').padEnd(7)} ${`"${r.cron}"`.padEnd(16)} ${r.buildOnly ? 'build' : 'run  '} ${r.topologyFile}  next ${r.nextRun ?? '-'}${r.lastRun ? `  last ${r.lastRun}` : ''}`);
  }
  return 0;
}

async function describeSchedule(client: Client, args: string[], values: Record<string, unknown>): Promise<number> {
  const { handle, description: d } = await handleOf(client, args);
  const m = memoOf(d);
  const recent = d.info.recentActions.map((a) => ({ runId: a.action.workflow.workflowId, scheduledAt: a.scheduledAt.toISOString(), takenAt: a.takenAt.toISOString() }));
  const out = {
    id: handle.scheduleId, paused: d.state.paused, note: d.state.note ?? null, cron: m.cron ?? null, topology: m.topology ?? null, topologyFile: m.topologyFile ?? null,
    release: m.release ?? null, buildOnly: m.buildOnly ?? false, createdBy: m.createdBy ?? null, overlap: 'skip',
    nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()), recentRuns: recent,
    running: d.info.runningActions.map((a) => a.workflow.workflowId), skippedOverlaps: d.info.numActionsSkippedOverlap,
  };
  if (values.json) {
    console.log(JSON.stringify(out));
    return 0;
  }
  console.log(`schedule ${out.id}: ${out.paused ? 'paused' : 'active'}${out.note ? ` (${out.note})` : ''}`);
  console.log(`  ${out.buildOnly ? 'builds' : 'runs'} ${out.topologyFile} (topology ${out.topology}, release ${out.release}) on "${out.cron}", overlapping runs skipped (${out.skippedOverlaps} so far)`);
  console.log(`  next${out.paused ? ' (once unpaused)' : ''}: ${out.nextRuns.join(', ') || '-'}`);
  for (const r of out.running) console.log(`  running: ${r}`);
  for (const r of recent.slice(-5)) console.log(`  ran: ${r.runId} at ${r.takenAt}`);
  return 0;
}

async function changeSchedule(client: Client, args: string[], change: (h: ScheduleHandle) => Promise<void>, done: string): Promise<number> {
  const { handle } = await handleOf(client, args);
  await change(handle);
  console.log(`schedule ${handle.scheduleId} ${done}`);
  return 0;
}

/** Starts a run now, and says which (or that it was skipped: one of the schedule's runs still goes). */
async function triggerSchedule(client: Client, args: string[]): Promise<number> {
  const { handle, description } = await handleOf(client, args);
  const before = new Set(description.info.recentActions.map((a) => a.action.workflow.workflowId));
  const skippedBefore = description.info.numActionsSkippedOverlap;
  await handle.trigger(ScheduleOverlapPolicy.SKIP);
  for (const deadline = Date.now() + 10000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 300))) {
    const d = await handle.describe();
    const started = d.info.recentActions.map((a) => a.action.workflow.workflowId).find((id) => !before.has(id));
    if (started) {
      console.log(`schedule ${handle.scheduleId} triggered: run ${started} (follow it: contrail-deploy status ${started})`);
      return 0;
    }
    if (d.info.numActionsSkippedOverlap > skippedBefore) {
      console.log(`schedule ${handle.scheduleId}: skipped, its run ${d.info.runningActions[0]?.workflow.workflowId ?? ''} still goes`);
      return 1;
    }
  }
  console.log(`schedule ${handle.scheduleId} triggered (the run has not started within 10 s: "contrail-deploy schedule describe ${handle.scheduleId}" shows it)`);
  return 0;
}
