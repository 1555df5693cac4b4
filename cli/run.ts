// `contrail-deploy run <topology>` and `build <topology>`: start the pipeline with a business id, follow it to the end.
import * as os from 'os';
import { ServiceError, WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { loadPlan } from '../lib/load';
import { connectClient, uiLink } from '../lib/temporal';
import { runSummaryQuery, SEARCH_ATTRIBUTES, taskQueues, type TaskQueues } from '../model/shared';
import type { RunSummary } from '../model/steps';
import { deployPipeline } from '../workflows';
import type { PipelineInput } from '../workflows/pipeline';
import type { Command } from './command';
import { PartReader, summaryFromFailure } from './run-steps';
import { partLine } from './status';
import { compactPlan } from '../model/compact-plan';
import { LiveBlock, renderProgress } from './progress';
import type { Plan } from '../model/plan';
import { selectImages } from '../model/selection';
import { SELECTION_HELP, SELECTION_OPTIONS, selectionFrom } from './selection-options';
import { onePositional, UsageError } from './usage';
import { queuePrefix } from './worker';

const RUN_OPTIONS = { json: { type: 'boolean' }, 'no-cache': { type: 'boolean' }, 'remove-orphans': { type: 'boolean' }, 'with-worker': { type: 'boolean' }, initiator: { type: 'string' }, builds: { type: 'string' }, pushes: { type: 'string' } } as const;
const LIMITS_HELP = `  --builds N     builds at once (default: the topology's concurrency.builds, else 2)
  --pushes N     pushes at once (default: the topology's concurrency.pushes, else 1)`;

/** The topology's build and push limits, overridden from the command line. */
function withLimits(plan: Plan, values: Record<string, unknown>): Plan {
  const limit = (name: 'builds' | 'pushes') => {
    if (values[name] === undefined) return plan.concurrency[name];
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--${name} takes a number from 1 to 64`);
    return n;
  };
  return { ...plan, concurrency: { ...plan.concurrency, builds: limit('builds'), pushes: limit('pushes') } };
}

export const runCommand: Command = {
  name: 'run',
  summary: 'build, push and deploy a topology (the whole pipeline), and follow it to the end',
  usage: `Usage: contrail-deploy run <topology.yaml> [--json] [--no-cache] [--remove-orphans] [--with-worker] [--initiator NAME]

  Starts the pipeline workflow with a business id (<topology>-<release>-<time>), prints the run id and its link in
  the Temporal UI, follows progress until the end, and exits non-zero naming the failed step: 1 when the run
  failed, 3 when a step failed after its retries and the run waits for a decision (retry, skip or abort).
  --json         the last line of output is one JSON object: {runId, status, images, containers, ...}
  --no-cache     rebuild images even when an identical build exists
  --remove-orphans  once every stage is healthy, stop and remove the containers that carry this topology's label
                 but that it no longer plans on their host (see "diff"); their data directories stay
  --with-worker  also run a worker (both task queues) in this process for the duration of the run
  --initiator    who started the run, for audit (default: $USER@hostname)
${LIMITS_HELP}`,
  options: RUN_OPTIONS,
  async run({ values, positionals }) {
    const { plan } = loadPlan(onePositional(positionals, 'topology file'));
    return startAndFollow(withLimits(plan, values), values);
  },
};

export const buildCommand: Command = {
  name: 'build',
  summary: 'build and push images only (all, bases, subs, named ones with their ancestors, or by label)',
  usage: `Usage: contrail-deploy build <topology.yaml> [--images bases|subs|NAME...] [--filter label=K=V] [--json] [--no-cache] [--with-worker]

  The build part of the pipeline: each image starts as soon as its own parent is pushed; a failed image blocks its
  children only. Same output as run (--json: last line {runId, status, images: {built, skipped, failed, blocked}, ...}).
${SELECTION_HELP}
${LIMITS_HELP}`,
  options: { ...RUN_OPTIONS, ...SELECTION_OPTIONS },
  async run({ values, positionals }) {
    const { topology, plan } = loadPlan(onePositional(positionals, 'topology file'));
    const { selected, unknown } = selectImages(topology.catalog.images, selectionFrom(values));
    if (unknown.length) throw new UsageError(`no image named ${unknown.join(', ')} in ${topology.catalog.file}`);
    const names = new Set(selected.map((s) => s.name));
    return startAndFollow({ ...withLimits(plan, values), images: plan.images.filter((i) => names.has(i.name)), hosts: [], stages: [] }, values);
  },
};

/** Starts a pipeline run of the plan (a resume names the run it continues) and follows it to the end. */
export async function startAndFollow(plan: Plan, values: Record<string, unknown>, resumedFrom?: string, rollback?: PipelineInput['rollback']): Promise<number> {
  const what = rollback ? `Rollback (from ${rollback.from ?? 'unknown'}) to` : plan.stages.length || plan.hosts.length ? 'Deploy' : 'Build';
  const json = Boolean(values.json);
  const out = (line: string) => console.log(line);
  const client = await connectClient();
  const queues = taskQueues(queuePrefix());
  const controller = new AbortController();
  // The worker (and its SDK, activities and SSH) loads only when asked for: it is most of a CLI start otherwise.
  const worker = values['with-worker'] ? (await import('../workers/worker')).runWorkers({ kinds: ['build', 'deploy'], queuePrefix: queuePrefix(), signal: controller.signal }) : undefined;
  try {
    // Independent questions to the server: asked at once.
    await Promise.all([worker ? undefined : warnWithoutWorkers(client, queues), refuseConcurrentRun(client, plan.topology, plan.release)]);
    const runId = `${plan.topology}-${plan.release}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}`;
    const initiator = String(values.initiator ?? `${os.userInfo().username}@${os.hostname()}`);
    const handle = await client.workflow.start(deployPipeline, {
      taskQueue: queues.deploy,
      workflowId: runId,
      args: [{ runId, plan: compactPlan(plan), queues, noCache: Boolean(values['no-cache']), resumedFrom, ...(values['remove-orphans'] ? { removeOrphans: true } : {}), ...(rollback ? { rollback } : {}) }],
      // history shows a rollback as such (cli/history.ts).
      ...(rollback ? { memo: { rollback: { from: rollback.from ?? null, to: rollback.to } } } : {}),
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.release, value: plan.release },
        { key: SEARCH_ATTRIBUTES.topology, value: plan.topology },
        { key: SEARCH_ATTRIBUTES.initiator, value: initiator },
        { key: SEARCH_ATTRIBUTES.status, value: 'running' },
        ...(resumedFrom ? [{ key: SEARCH_ATTRIBUTES.resumedFrom, value: resumedFrom }] : []),
      ],
      staticSummary: `${what} ${plan.topology} release ${plan.release}${resumedFrom ? ` (resumes ${resumedFrom})` : ''}`,
      staticDetails: `${plan.images.length} images to ${plan.registry.address}; hosts ${plan.hosts.map((h) => `${h.name} (${h.address})`).join(', ') || 'none'}; started by ${initiator} from ${plan.topologyFile}${resumedFrom ? `; resumes run ${resumedFrom}: finished work is checked against the registry and the hosts, not redone` : ''}`,
    });
    out(`run ${runId} started by ${initiator}${resumedFrom ? ` (resumes ${resumedFrom})` : ''}`);
    out(`  ui: ${uiLink(runId, client.options.namespace)}`);
    return await followAndReport(handle, json);
  } finally {
    controller.abort();
    await worker;
  }
}

/** Follows a run until it ends or parks, prints the outcome; exit code 0 completed, 1 failed, 3 parked. */
export async function followAndReport(handle: WorkflowHandle<typeof deployPipeline>, json: boolean): Promise<number> {
  const out = (line: string) => console.log(line);
  // On a terminal, a live block redrawn in place; otherwise (a pipe, CI, --json) one plain line per step change.
  const live = process.stdout.isTTY && !json ? new LiveBlock(process.stdout) : undefined;
  const summary = await follow(handle, out, live);
  if (summary.status === 'failed' && summary.failedStep) out(`FAILED at step ${summary.failedStep.id}: ${summary.failedStep.message}`);
  if (summary.status === 'parked') {
    for (const p of summary.parked ?? []) {
      out(`PARKED at step ${p.id}${p.host ? ` on ${p.host}` : ''} since ${p.since}: ${p.error}`);
    }
    const one = summary.parked?.length === 1 ? '' : ' --step <id>';
    out(`The run waits for a decision until ${summary.parked?.[0]?.until ?? 'its park timeout'} (other branches go on):`);
    out(`  contrail-deploy retry ${handle.workflowId}${one}    fix the cause first, then run the step again`);
    out(`  contrail-deploy skip ${handle.workflowId}${one}     go on without it (--force when other steps need it)`);
    out(`  contrail-deploy abort ${handle.workflowId}${one}    fail it now`);
  }
  if (summary.releaseTag?.moved) {
    out(`release tag ${summary.releaseTag.tag} now points at:`);
    for (const [name, ref] of Object.entries(summary.digests).sort()) out(`  ${name.padEnd(28)} ${ref}`);
  }
  out(summaryLine(summary));
  if (json) out(JSON.stringify(publicSummary(summary)));
  return summary.status === 'completed' ? 0 : summary.status === 'parked' ? 3 : 1;
}

/** Above this many hosts, the plain-line mode reports parts and every failure and park, not every step. */
const STEP_LINES_UP_TO_HOSTS = 50;

async function follow(handle: WorkflowHandle<typeof deployPipeline>, out: (l: string) => void, live: LiveBlock | undefined): Promise<RunSummary> {
  const reader = new PartReader(handle.client);
  const seen = new Map<string, string>();
  const started = Date.now();
  const report = async (summary: RunSummary) => {
    const condensed = summary.parts.reduce((n, p) => n + p.hosts, 0) > STEP_LINES_UP_TO_HOSTS;
    const steps = await reader.steps(summary, { failed: condensed });
    if (live) return live.draw(renderProgress(handle.workflowId, summary, condensed ? undefined : steps, Date.now() - started, process.stdout.columns || 120));
    const changes = [
      ...(condensed ? summary.parts.map((p) => ({ id: p.workflowId, status: `${p.status} ${JSON.stringify(p.hostStates ?? {})}`, line: partLine(p).trim() })) : []),
      ...steps.filter((s) => s.status !== 'pending').map((s) => ({ id: s.id, status: s.status, line: `${s.id.padEnd(36)} ${s.status}${s.detail && s.status !== 'running' ? `: ${firstLine(s.detail)}` : ''}` })),
    ];
    for (const c of changes) {
      if (seen.get(c.id) === c.status) continue;
      seen.set(c.id, c.status);
      out(`  ${new Date().toISOString().slice(11, 19)} ${c.line}`);
    }
  };
  const result = outcome(handle, out);
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, live ? 500 : 1000))]);
    if (done) break;
    let current: RunSummary | undefined;
    try {
      current = await handle.query(runSummaryQuery);
    } catch {
      // Not started yet (no worker polling): keep waiting; the run is durable.
    }
    if (current) {
      await report(current).catch(() => undefined);
      // A parked run waits for an operator: hand back to the user instead of waiting up to the park timeout.
      if (current.status === 'parked') return current;
    }
  }
  const summary = await result;
  await report(summary);
  return summary;
}

/** The run's result. The run is durable: while the Temporal server is unreachable (a restart), keep asking. */
async function outcome(handle: WorkflowHandle<typeof deployPipeline>, out: (l: string) => void): Promise<RunSummary> {
  let lostSince: number | undefined;
  for (;;) {
    try {
      return await handle.result();
    } catch (e) {
      const summary = summaryFromFailure(e);
      if (summary) return summary;
      if (e instanceof WorkflowFailedError) throw new Error(`run ${handle.workflowId} ended: ${e.cause?.message ?? e.message}`);
      if (!(e instanceof ServiceError) || (lostSince !== undefined && Date.now() - lostSince > SERVER_PATIENCE_MS)) throw e;
      if (lostSince === undefined) out(`  lost the Temporal server (${e.message.split('\n')[0]}); the run goes on there, reconnecting...`);
      lostSince ??= Date.now();
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
const SERVER_PATIENCE_MS = 10 * 60 * 1000;

function firstLine(s: string): string {
  const line = s.split('\n')[0];
  return line.length > 140 ? `${line.slice(0, 137)}...` : line;
}

export function summaryLine(s: RunSummary): string {
  const tag = s.releaseTag ? `; release tag ${s.releaseTag.tag} ${s.releaseTag.moved ? `points at this run's ${Object.keys(s.digests).length} digests` : 'not moved (not every image was pushed)'}` : '';
  const orphans = s.orphansRemoved ? `; orphans removed ${s.orphansRemoved.length}${s.orphansRemoved.length ? ` (${s.orphansRemoved.join(', ')})` : ''}` : '';
  const rollback = s.rollback ? `; rolled back from release ${s.rollback.from ?? '(unknown)'} to ${s.rollback.to}, nothing built` : '';
  return `${s.status}: images built ${s.images.built}, skipped ${s.images.skipped}, failed ${s.images.failed}, blocked ${s.images.blocked}; containers created ${s.containers.created}, recreated ${s.containers.recreated}, unchanged ${s.containers.unchanged}${orphans}${tag}${rollback}`;
}

/** The --json object: stable fields that later versions extend, never break. */
export function publicSummary(s: RunSummary) {
  return { runId: s.runId, resumedFrom: s.resumedFrom ?? null, status: s.status, release: s.release, topology: s.topology, images: s.images, containers: s.containers, digests: s.digests, releaseTag: s.releaseTag ?? null, buildLogs: s.buildLogs, failedStep: s.failedStep ?? null, parked: s.parked ?? [], decisions: s.decisions ?? [], ...(s.orphansRemoved ? { orphansRemoved: s.orphansRemoved } : {}), ...(s.rollback ? { rollback: s.rollback } : {}) };
}

async function refuseConcurrentRun(client: Client, topology: string, release: string): Promise<void> {
  const query = `Topology="${topology}" AND ReleaseTag="${release}" AND ExecutionStatus="Running"`;
  for await (const wf of client.workflow.list({ query })) {
    throw new Error(`run ${wf.workflowId} of ${topology} release ${release} is still running: follow it with "contrail-deploy status ${wf.workflowId}", or wait for it to end`);
  }
}

export async function warnWithoutWorkers(client: Client, queues: TaskQueues): Promise<void> {
  await Promise.all(Object.entries(queues).map(async ([kind, name]) => {
    const r = await client.workflowService
      .describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name }, taskQueueType: kind === 'deploy' ? 1 : 2 })
      .catch(() => undefined);
    if (r && !r.pollers?.length) console.error(`warning: no worker polls task queue ${name}: start one with "contrail-deploy worker --queues ${kind}" (the run waits for it)`);
  }));
}
