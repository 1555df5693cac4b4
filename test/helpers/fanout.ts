// Reading a rollout back from the lab: a run's steps (as `status --json` gives them), each host's container as its own
// engine records it, and how many hosts were in flight at once.
import type { PartRecord, Step } from '../../model/steps';
import { cli, sshRun, type LabStatus } from './lab';

/** The run's status, steps and parts, as `contrail-deploy status <run> --json` lists them (one call: the place to follow paging). */
export async function runSteps(runId: string, env: NodeJS.ProcessEnv): Promise<{ status: string; steps: Step[]; parts: PartRecord[] }> {
  const r = await cli(['status', runId, '--json'], env);
  if (r.code !== 0) throw new Error(`status ${runId} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  const view = JSON.parse(r.stdout) as { status: string; steps: Step[]; parts?: PartRecord[] };
  return { status: view.status, steps: view.steps, parts: view.parts ?? [] };
}

export interface HostContainer {
  /** Creation time in ms, from the host's own Docker engine (`docker inspect`, nanoseconds cut to ms). */
  created: number;
  running: boolean;
  /** The run that made it (the label the pipeline sets). */
  run: string;
}

/** The container NAME on a lab host, read over SSH from that host's engine; undefined when there is none. */
export function hostContainer(lab: LabStatus, host: string, name: string): HostContainer | undefined {
  const r = sshRun(lab, host, `docker inspect -f '{{.Created}} {{.State.Running}} {{index .Config.Labels "net.contrail-deploy.run"}}' ${name}`);
  if (r.code !== 0) {
    if (/No such (object|container)/i.test(r.stderr)) return undefined;
    throw new Error(`docker inspect ${name} on ${host} failed (${r.code}): ${r.stderr}`);
  }
  const [created, running, run] = r.stdout.trim().split(' ');
  return { created: Date.parse(created), running: running === 'true', run };
}

export interface Interval {
  name: string;
  from: number;
  to: number;
}

/** The most intervals that hold at one instant (touching ends do not overlap), and one instant where that many do. */
export function maxOverlap(intervals: Interval[]): { count: number; at: number; names: string[] } {
  // Ends before starts at the same instant: a host that finishes as another starts is not in flight with it.
  const events = intervals.flatMap((i) => [{ t: i.from, d: 1 }, { t: i.to, d: -1 }]).sort((a, b) => a.t - b.t || a.d - b.d);
  let count = 0;
  let best = { count: 0, at: NaN };
  for (const e of events) {
    count += e.d;
    if (count > best.count) best = { count, at: e.t };
  }
  return { ...best, names: intervals.filter((i) => i.from <= best.at && best.at < i.to).map((i) => i.name) };
}

export const ms = (iso: string | undefined): number => (iso ? Date.parse(iso) : NaN);

/** Each host's time in flight in one stage, by the run's step times: from its first step there (its preparation, in
 *  the stage it is prepared in; else its pull) to the end of its last health gate there. Only hosts whose gates there
 *  all completed: how long another held its slot is for the caller to say. */
export function stageWindows(steps: Step[], stage: string): Interval[] {
  const hosts = [...new Set(steps.filter((s) => s.stage === stage && s.kind === 'health').map((s) => s.host!))];
  return hosts.flatMap((host) => {
    const mine = steps.filter((s) => s.stage === stage && s.host === host);
    const gates = mine.filter((s) => s.kind === 'health');
    if (gates.some((g) => g.status !== 'completed')) return [];
    const first = mine.find((s) => s.kind === 'prepare') ?? mine.find((s) => s.kind === 'pull');
    return [{ name: host, from: ms(first?.startTime), to: Math.max(...gates.map((g) => ms(g.endTime))) }];
  });
}

/** The smoke images (smoke-base, smoke-web) in a lab host's engine, by id: the only images a fan-out run pulls. */
export function smokeImages(lab: LabStatus, host: string): Set<string> {
  const listed = sshRun(lab, host, "docker image ls --no-trunc --format '{{.ID}} {{.Repository}}'").stdout.split('\n');
  return new Set(listed.map((l) => l.split(' ')).filter(([id, repo]) => id && /\/smoke-(base|web)$/.test(repo ?? '')).map(([id]) => id));
}
