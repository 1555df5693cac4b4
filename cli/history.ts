// `contrail-deploy history`: past and running runs, from Temporal's visibility (search attributes), newest first.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { connectClient, uiLink } from '../lib/temporal';
import { SEARCH_ATTRIBUTES } from '../model/shared';
import type { Command } from './command';
import { formatElapsed } from './progress';
import { UsageError } from './usage';

const STATUSES: Record<string, string> = {
  running: 'Running', completed: 'Completed', failed: 'Failed', canceled: 'Canceled', cancelled: 'Canceled',
  terminated: 'Terminated', 'timed-out': 'TimedOut', timedout: 'TimedOut',
};

/** Set by Temporal itself on every workflow a schedule starts: the schedule's id. */
const SCHEDULED_BY = defineSearchAttributeKey('TemporalScheduledById', SearchAttributeType.KEYWORD);

export interface HistoryEntry {
  runId: string;
  status: string;
  release: string | null;
  topology: string | null;
  initiator: string | null;
  /** The schedule that started the run (`contrail-deploy schedule`), else null. */
  scheduledBy: string | null;
  /** The run this one resumed, if it was started by `resume`. */
  resumedFrom: string | null;
  /** A `rollback` run: the release it left (null when unknown) and the one it deployed again; else null. */
  rollback: { from: string | null; to: string } | null;
  startTime: string;
  closeTime: string | null;
}

/** A visibility query from the options; values are quoted, so a release tag cannot inject query syntax. */
export function historyQuery(opts: { release?: string; topology?: string; status?: string }): string {
  const quote = (v: string) => `"${v.replace(/["\\]/g, '\\$&')}"`;
  const parts = ['WorkflowType="deployPipeline"'];
  if (opts.release) parts.push(`ReleaseTag=${quote(opts.release)}`);
  if (opts.topology) parts.push(`Topology=${quote(opts.topology)}`);
  if (opts.status) {
    const s = STATUSES[opts.status.toLowerCase()];
    if (!s) throw new UsageError(`unknown --status "${opts.status}": one of ${[...new Set(Object.keys(STATUSES))].join(', ')}`);
    parts.push(`ExecutionStatus=${quote(s)}`);
  }
  return parts.join(' AND ');
}

export const historyCommand: Command = {
  name: 'history',
  summary: 'past and running runs with start, duration and outcome (--release TAG, --status failed, --json)',
  usage: `Usage: contrail-deploy history [--release TAG] [--topology NAME] [--status STATUS] [--limit N] [--json]

  Lists runs from Temporal's visibility store, newest first: run id, outcome, release, who started it, start time and
  duration. STATUS: running, completed, failed, canceled, terminated, timed-out. --limit: at most N runs (default 20).
  --json: the last line is an array of {runId, status, release, topology, initiator, scheduledBy, resumedFrom,
  rollback: {from, to} | null, startTime, closeTime}. A run started by a schedule ("contrail-deploy schedule") has "schedule <id>" as initiator.`,
  options: { release: { type: 'string' }, topology: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
  async run({ values, positionals }) {
    if (positionals.length) throw new UsageError(`unexpected arguments: ${positionals.join(' ')}`);
    const limit = Number(values.limit ?? 20);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit takes a positive number');
    const query = historyQuery({ release: values.release as string | undefined, topology: values.topology as string | undefined, status: values.status as string | undefined });
    const client = await connectClient();
    const entries: HistoryEntry[] = [];
    for await (const wf of client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
      const attr = <T>(key: typeof SEARCH_ATTRIBUTES.release) => (wf.typedSearchAttributes.get(key) as T | undefined) ?? null;
      const scheduledBy = attr<string>(SCHEDULED_BY);
      entries.push({
        runId: wf.workflowId,
        status: wf.status.name.toLowerCase().replace('timed_out', 'timed-out'),
        release: attr<string>(SEARCH_ATTRIBUTES.release),
        topology: attr<string>(SEARCH_ATTRIBUTES.topology),
        // A scheduled run names its schedule as initiator; Temporal's own attribute says so even if ours is missing.
        initiator: attr<string>(SEARCH_ATTRIBUTES.initiator) ?? (scheduledBy ? `schedule ${scheduledBy}` : null),
        scheduledBy,
        resumedFrom: attr<string>(SEARCH_ATTRIBUTES.resumedFrom),
        rollback: (wf.memo?.rollback as HistoryEntry['rollback'] | undefined) ?? null,
        startTime: wf.startTime.toISOString(),
        closeTime: wf.closeTime?.toISOString() ?? null,
      });
      if (entries.length >= limit) break;
    }
    if (values.json) {
      console.log(JSON.stringify(entries));
      return 0;
    }
    if (!entries.length) console.log(`no runs match (${query})`);
    for (const e of entries) {
      const duration = formatElapsed((e.closeTime ? Date.parse(e.closeTime) : Date.now()) - Date.parse(e.startTime));
      console.log(`${e.startTime.replace('T', ' ').slice(0, 19)}  ${e.status.padEnd(10)} ${duration.padStart(7)}  ${(e.release ?? '').padEnd(18)} ${(e.initiator ?? '').padEnd(16)} ${e.runId}${e.resumedFrom ? ` (resumes ${e.resumedFrom})` : ''}${e.rollback ? ` (rollback from ${e.rollback.from ?? 'unknown'} to ${e.rollback.to})` : ''}`);
    }
    if (entries.length) console.log(`(details: contrail-deploy status <run-id>; in the UI: ${uiLink(entries[0].runId, client.options.namespace).replace(/[^/]+$/, '')})`);
    return 0;
  },
};
