// A run's recorded history as `temporal workflow show --output json` gives it: the run's own, and its children's
// (each step runs as a child workflow <run>/build/<image>, <run>/host/<host>, ...).
import { spawnSync } from 'child_process';
import { temporalCli } from './temporal';

export interface HistoryEvent {
  eventId: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string }; input?: { payloads: { data: string }[] } };
  activityTaskStartedEventAttributes?: { scheduledEventId: string; attempt: number; lastFailure?: { message: string } };
  childWorkflowExecutionStartedEventAttributes?: { workflowExecution: { workflowId: string; runId: string } };
}

export interface WorkflowHistory {
  workflowId: string;
  /** The JSON as the CLI printed it (for scans). */
  raw: string;
  events: HistoryEvent[];
}

export function workflowHistory(workflowId: string, runId?: string): WorkflowHistory {
  const args = ['workflow', 'show', '--workflow-id', workflowId, ...(runId ? ['--run-id', runId] : []), '--output', 'json', '--address', '127.0.0.1:7233'];
  const r = spawnSync(temporalCli(), args, { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`temporal workflow show ${workflowId} failed: ${r.stderr}`);
  return { workflowId, raw: r.stdout, events: (JSON.parse(r.stdout) as { events: HistoryEvent[] }).events };
}

/** The run's history followed by every child's, found from the ChildWorkflowExecutionStarted events. */
export function runHistories(runId: string): WorkflowHistory[] {
  const all = [workflowHistory(runId)];
  for (let i = 0; i < all.length; i++) {
    for (const e of all[i].events) {
      const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (child) all.push(workflowHistory(child.workflowId, child.runId));
    }
  }
  return all;
}

export interface ActivityAttempt {
  workflowId: string;
  type: string;
  /** The activity's first argument, decoded. */
  input: unknown;
  attempt: number;
  /** Why the previous attempt failed (heartbeat timeout, an error). */
  lastFailure?: string;
}

/** Every activity attempt that started, across the histories. */
export function activityAttempts(histories: WorkflowHistory[]): ActivityAttempt[] {
  return histories.flatMap((h) =>
    h.events.flatMap((e) => {
      const started = e.activityTaskStartedEventAttributes;
      if (!started) return [];
      const scheduled = h.events.find((s) => s.eventId === started.scheduledEventId)?.activityTaskScheduledEventAttributes;
      const data = scheduled?.input?.payloads[0]?.data;
      return [{
        workflowId: h.workflowId,
        type: scheduled?.activityType.name ?? '?',
        input: data ? JSON.parse(Buffer.from(data, 'base64').toString()) : undefined,
        attempt: started.attempt,
        lastFailure: started.lastFailure?.message,
      }];
    }),
  );
}

/** The payloads of the histories, decoded from base64 (for scans). */
export function decodedPayloads(histories: WorkflowHistory[]): string[] {
  return histories.flatMap((h) => [...h.raw.matchAll(/"data":\s*"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], 'base64').toString('utf8')));
}
