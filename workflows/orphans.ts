// `run --remove-orphans`: once every stage is healthy, the run's last step stops and removes, on each of its hosts, the
// containers that carry its topology's label but that it no longer plans there. Data directories stay.
import type { Plan } from '../model/plan';
import { hostRef } from '../model/plan';
import { Semaphore } from '../model/semaphore';
import type { TaskQueues } from '../model/shared';
import type { RunSummary } from '../model/steps';
import { ActivityCaller } from './activity-calls';

/** Patch id: runs started with --remove-orphans end with this step; runs from before never reach it. */
export const REMOVE_ORPHANS = 'remove-orphans';

/** Removes the orphans host by host (as many at once as concurrency.hosts); a host that fails fails the run, naming it. */
export async function removeOrphansAfterRun(runId: string, plan: Plan, queues: TaskQueues, summary: RunSummary): Promise<void> {
  const calls = new ActivityCaller(queues);
  const slots = new Semaphore(plan.concurrency.hosts);
  const planned = (host: string) => [...new Set(plan.stages.flatMap((s) => s.containers).filter((c) => c.host === host).map((c) => c.name))];
  const removed: string[] = [];
  await Promise.all(plan.hosts.map((host) => slots.run(async () => {
    try {
      const r = await calls.call('deploy', 'removeOrphans', `remove orphans of ${plan.topology} on ${host.name}`, { host: hostRef(host), topology: plan.topology, planned: planned(host.name), ssh: plan.ssh });
      removed.push(...r.removed.map((name) => `${host.name}/${name}`));
    } catch (e) {
      summary.failedSteps.push({ id: `orphans:${host.name}`, message: ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message, part: runId });
      summary.status = 'failed';
    }
  })));
  summary.orphansRemoved = removed.sort();
}
