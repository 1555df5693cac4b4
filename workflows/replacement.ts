// Rolling replacement of running containers (a new release, a changed spec): members of a cluster one at a time, each
// only after the one before passed its gate and the cluster has quorum again; other services at most
// rollout.maxUnavailable instances at once; a single instance in place, with how long it was down. The replaced
// container is kept, stopped, until its replacement passes; a replacement that fails is removed and the old container
// runs again before the step parks (retry, skip, abort as for any step).
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { SshSettings, StartRequest, StartResult } from '../model/activity-types';
import { hostRef, type HostRef, type PlannedContainer, type PlannedHost } from '../model/plan';
import { quorumSize, replacementDetail, replacementsAtOnce, rollingUpgrades } from '../model/rollout';
import { Semaphore } from '../model/semaphore';
import type { Rollout, SimulationSpec } from '../model/types';
import { stepId } from '../model/steps';
import type { ActivityCaller } from './activity-calls';
import { Blocked, failureMessage, Skipped, type PartSteps } from './part-steps';

/** Patch id: changed containers are replaced in turn, the old one kept until the new one passes its gate. */
export const ROLLING_REPLACEMENT = 'rolling-replacement';

export interface ReplacementContext {
  steps: PartSteps;
  calls: ActivityCaller;
  rollout: Rollout;
  ssh: SshSettings;
  /** This part's containers of its stage: a cluster's members, a service's instances. */
  containers: PlannedContainer[];
  hosts: Map<string, PlannedHost>;
  simulate?: SimulationSpec;
}

export class Replacements {
  /** Per service: how many of its instances may be replaced at once. */
  private readonly turns = new Map<string, Semaphore>();
  /** Per service: the step whose replacement failed; the service's other instances are then left as they run. */
  private readonly failed = new Map<string, string>();
  private readonly instances = new Map<string, number>();

  constructor(private readonly ctx: ReplacementContext) {
    for (const c of ctx.containers) this.instances.set(c.service, (this.instances.get(c.service) ?? 0) + 1);
  }

  /** Whether this run replaces in turn (guarded: runs in flight before it recreate as they did). */
  rolling(): boolean {
    return rollingUpgrades(this.ctx.rollout) && patched(ROLLING_REPLACEMENT);
  }

  /** A container's start and gate; a running container with another spec is replaced in its service's turn: true
   *  when healthy (or an operator went on), false when its start was skipped; throws when it failed or is blocked. */
  async bringUp(request: StartRequest): Promise<boolean> {
    const c = request.container;
    // Absent or stopped containers start at once; a running one says it waits for its turn, unchanged.
    const startedAt = Date.now();
    const first = await this.start(request, true);
    if (first === 'skipped') return false;
    if (!first.waitsForTurn) {
      // (A container that was stopped, or a simulated host, is replaced at once; retried, it waits for its turn.)
      const outcome = await this.afterStart(request, first, startedAt);
      if (outcome !== 'retry') return outcome;
    }
    const turn = this.turnOf(c);
    await turn.acquire();
    try {
      for (;;) {
        const blockedBy = this.failed.get(c.service);
        if (blockedBy) {
          const reason = `not replaced: the replacement of another instance of ${c.service} failed (${blockedBy}); this one runs as it was`;
          this.ctx.steps.log.finish(stepId('start', c.name, c.host), 'blocked', reason);
          this.ctx.steps.log.finish(stepId('health', c.name, c.host), 'blocked', reason);
          throw new Blocked(reason);
        }
        const downSince = Date.now();
        const started = await this.start(request, false);
        if (started === 'skipped') return false;
        const outcome = await this.afterStart(request, started, downSince);
        if (outcome !== 'retry') return outcome;
      }
    } finally {
      turn.release();
    }
  }

  /** The start step; 'skipped' when an operator skipped it (its gate is then skipped too). */
  private async start(request: StartRequest, replaceInTurn: boolean): Promise<StartResult | 'skipped'> {
    const c = request.container;
    const { steps, calls } = this.ctx;
    const detail = (r: StartResult) => (r.waitsForTurn ? 'runs; waits for its turn to be replaced' : r.previous ? `${r.outcome}; the replaced container is kept, stopped, until this one passes its gate` : r.outcome);
    try {
      return await steps.run(stepId('start', c.name, c.host), () => calls.call('deploy', 'startContainer', `start ${c.name} on ${c.host}`, { ...request, keepPrevious: true, ...(replaceInTurn ? { replaceInTurn } : {}) }), detail);
    } catch (e) {
      const skipped = e instanceof Skipped;
      steps.log.finish(stepId('health', c.name, c.host), skipped ? 'skipped' : 'blocked', `start of ${c.name} ${skipped ? 'was skipped by an operator' : 'failed'}`);
      if (skipped) return 'skipped';
      throw e;
    }
  }

  /** After a start: a first start's gate as always; a replacement's gate, with the old container discarded when it
   *  passes and started again when it fails (then the step parks: 'retry' when the operator wants it again). */
  private async afterStart(request: StartRequest, started: StartResult, downSince: number): Promise<boolean | 'retry'> {
    const c = request.container;
    const { steps } = this.ctx;
    if (started.outcome !== 'recreated') {
      steps.containers[started.outcome]++;
      return this.gate(request);
    }
    const healthId = stepId('health', c.name, c.host);
    steps.log.start(healthId);
    try {
      const detail = await this.gateReplacement(c, request.host, downSince);
      if (started.previous) await this.discard(c, request.host, started.previous);
      steps.log.finish(healthId, 'completed', detail);
      steps.containers.recreated++;
      return true;
    } catch (e) {
      const restored = started.previous ? await this.restore(c, request.host, started.previous) : 'no replaced container was kept to start again';
      try {
        await steps.afterFailure(healthId, ApplicationFailure.nonRetryable(`${restored}. The replacement failed: ${failureMessage(e)}`, 'ReplacementFailed'));
        return 'retry';
      } catch (decided) {
        // Skipped: the old container runs, and the rollout goes on without the new one, as the operator said.
        if (decided instanceof Skipped) return true;
        this.failed.set(c.service, healthId);
        throw decided;
      }
    }
  }

  private turnOf(c: PlannedContainer): Semaphore {
    let turn = this.turns.get(c.service);
    if (!turn) this.turns.set(c.service, (turn = new Semaphore(replacementsAtOnce(c, this.instances.get(c.service) ?? 1, this.ctx.rollout))));
    return turn;
  }

  /** The gate of a container that replaced nothing, as always: a skipped gate counts as healthy. */
  private gate(request: StartRequest): Promise<boolean> {
    const c = request.container;
    return this.ctx.steps.run(stepId('health', c.name, c.host), () => this.ctx.calls.call('health', 'checkHealth', `health gate ${c.name} on ${c.host}`, this.healthRequest(c, request.host)), (r) => `answered after ${r.answeredAfterMs} ms`).then(() => true, (e: unknown) => {
      if (e instanceof Skipped) return true;
      throw e;
    });
  }

  /** A replacement's gate: its health check, then for a cluster's member the cluster's quorum, asked of every member. */
  private async gateReplacement(c: PlannedContainer, host: HostRef, downSince: number): Promise<string> {
    const { calls, ssh, simulate } = this.ctx;
    const r = await calls.call('health', 'checkHealth', `health gate ${c.name} on ${c.host} (replaced)`, this.healthRequest(c, host));
    const downMs = Date.now() - downSince;
    const members = this.ctx.containers.filter((m) => m.service === c.service);
    if (!c.quorum) return replacementDetail(r.answeredAfterMs, downMs, members.length);
    const need = quorumSize(members.length);
    const q = await calls.call('health', 'checkQuorum', `quorum of ${c.service} again after ${c.name} on ${c.host} (${need} of ${members.length}, ${c.host} among them)`, {
      service: c.service, members: members.length, need, include: [c.host], command: c.quorum.command, timeoutSeconds: c.health?.timeoutSeconds ?? 120, ssh, ...(simulate ? { simulate } : {}),
      healthy: members.map((m) => ({ container: m, host: hostRef(this.ctx.hosts.get(m.host)!) })),
    });
    return replacementDetail(r.answeredAfterMs, downMs, members.length, `${c.service} in quorum again (${q.inQuorum.length} of ${members.length}: ${q.inQuorum.join(', ')})`);
  }

  private healthRequest(c: PlannedContainer, host: HostRef) {
    return { container: c, host, ssh: this.ctx.ssh, ...(this.ctx.simulate ? { simulate: this.ctx.simulate } : {}) };
  }

  /** The failed replacement goes and the kept container runs again; says which, for the parked step's message. */
  private async restore(c: PlannedContainer, host: HostRef, previous: string): Promise<string> {
    try {
      const r = await this.ctx.calls.call('deploy', 'restorePrevious', `restore the previous ${c.name} on ${c.host}`, { container: c, host, ssh: this.ctx.ssh, previous });
      return `${c.name} on ${c.host} runs its previous container again (${r.id.slice(0, 12)})`;
    } catch (e) {
      return `the previous ${c.name} on ${c.host} could not be started again (${failureMessage(e)})`;
    }
  }

  /** The replacement passed: the kept container goes. A failure leaves it stopped (the next replacement removes it). */
  private async discard(c: PlannedContainer, host: HostRef, previous: string): Promise<void> {
    await this.ctx.calls.call('deploy', 'discardPrevious', `remove the replaced ${c.name} on ${c.host}`, { container: c, host, ssh: this.ctx.ssh, previous }).catch(() => undefined);
  }
}
