// Rolling upgrades and rollback on the real lab: a three-member ZooKeeper ensemble across the three hosts plus a
// single memcached. Release A is deployed; an upgrade to a release whose ZooKeeper image exits at start restores the
// old member (same container) and parks, and `abort` leaves everything on A, running; the upgrade to B (images
// changed by a label) replaces the members one at a time while a probe outside the workflow asks the ensemble every
// 0.5 s; `rollback --to A` puts A's digests back without building anything, and `history` shows it as a rollback.
import type { RunSummary, Step } from '../../model/steps';
import { QuorumProbe } from '../helpers/quorum-probe';
import { UpgradeFixture } from '../helpers/upgrade-fixture';
import { cli, labStatus, lastJsonLine, sshRun, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(20 * 60 * 1000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `upgrade-${suffix}` };
let lab: LabStatus;
let fixture: UpgradeFixture;
let worker: WorkerProcess;

type Summary = RunSummary & { steps: Step[] };

async function run(args: string[]): Promise<{ code: number; summary: RunSummary; stdout: string }> {
  const r = await cli(args, env);
  return { code: r.code, summary: lastJsonLine<RunSummary>(r.stdout), stdout: r.stdout };
}

async function steps(runId: string): Promise<Map<string, Step>> {
  const s = lastJsonLine<Summary>((await cli(['status', runId, '--json'], env)).stdout);
  return new Map(s.steps.map((x) => [x.id, x]));
}

beforeAll(async () => {
  lab = labStatus();
  fixture = new UpgradeFixture(lab, suffix);
  fixture.cleanUp();
  worker = await startWorker(env);
});
afterAll(async () => {
  await worker?.stop();
  fixture?.cleanUp();
});

test('upgrade keeps the ensemble in quorum, a failed replacement restores the old container, rollback redeploys A without a build', async () => {
  const { zk, mc, members } = fixture;
  const [controller] = members;
  const container = (host: string, name: string) => fixture.inspect(host, name);

  // Release A: a first deploy.
  const a = await run(['run', fixture.release('A'), '--json']);
  expect(a.code).toBe(0);
  const onA = new Map(fixture.containers().map((c) => [`${c.name}@${c.host}`, container(c.host, c.name)!]));
  for (const c of onA.values()) expect(c.running).toBe(true);

  // A release whose ZooKeeper image exits at start: the first member replaced fails its gate, runs its old container
  // again (the same one), and the step parks; nothing else is replaced.
  const broken = await run(['run', fixture.release('C', { broken: true }), '--json']);
  expect(broken.code).toBe(3);
  const parked = broken.summary.parked ?? [];
  expect(parked).toHaveLength(1);
  expect(parked[0].id).toMatch(new RegExp(`^health:${zk}@`));
  expect(parked[0].error).toMatch(new RegExp(`^${zk} on \\S+ runs its previous container again \\([0-9a-f]{12}\\)\\. The replacement failed: health gate: ${zk} on host \\S+: container ${zk} restarted during its health gate`));
  for (const [key, before] of onA) {
    const [name, host] = key.split('@');
    expect(container(host, name)).toEqual(before);
  }
  const aborted = await run(['abort', broken.summary.runId, '--json']);
  expect(aborted.summary.status).toBe('failed');
  const brokenSteps = await steps(broken.summary.runId);
  const others = members.filter((h) => `health:${zk}@${h.name}` !== parked[0].id);
  for (const h of others) expect(brokenSteps.get(`start:${zk}@${h.name}`)?.status).toBe('blocked');
  for (const [key, before] of onA) {
    const [name, host] = key.split('@');
    expect(container(host, name)).toEqual(before);
    expect(sshRun(lab, host, `docker ps -aq --filter name=^${name}-previous$`).stdout.trim()).toBe('');
  }

  // What a run of B would do, read from the hosts and the registry: B's images are not built yet (a label changed
  // their inputs), so every container is replaced, the ensemble one member at a time.
  type Preview = { againstHosts: { services: { service: string; cluster: boolean; atOnce: number; changes: { host: string; action: string; why: string }[] }[]; unchanged: number } };
  const preview = async (release: string) => {
    const r = await cli(['plan', fixture.release(release), '--against-hosts', '--json'], env);
    expect(r.code).toBe(0);
    return lastJsonLine<Preview>(r.stdout).againstHosts;
  };
  const before = await preview('B');
  expect(before.services.map((s) => [s.service, s.cluster, s.atOnce, s.changes.map((c) => c.action)])).toEqual([
    [zk, true, 1, ['replace', 'replace', 'replace']],
    [mc, false, 1, ['replace']],
  ]);
  // Built anew, or (an earlier test run built the same inputs) found in the registry by its input hash.
  expect(before.services[0].changes[0].why).toMatch(/^(its image upgrade-zookeeper is built anew \(its inputs changed\)|runs \S+@sha256:\w+, a run would deploy \S+@sha256:\w+)$/);

  // Release B (a label changed): members one at a time, while a probe outside the workflow asks the ensemble.
  const probe = new QuorumProbe(members.map((h) => h.address));
  probe.start();
  const b = await run(['run', fixture.release('B'), '--json']);
  probe.stop();
  expect(b.code).toBe(0);
  expect(b.summary.containers).toEqual({ created: 0, recreated: 4, unchanged: 0 });
  expect(probe.samples.length).toBeGreaterThan(20);
  // The ensemble kept its quorum: a leader's replacement costs ZooKeeper one election, no more (the bench measures it).
  // (On failure, the samples without quorum are shown.)
  expect({ gapUnder5s: probe.longestGapMs() < 5000, losses: probe.losses() }).toMatchObject({ gapUnder5s: true });
  const bSteps = await steps(b.summary.runId);
  const replaced = members.map((h) => ({ host: h.name, c: container(h.name, zk)!, start: bSteps.get(`start:${zk}@${h.name}`)!, health: bSteps.get(`health:${zk}@${h.name}`)! }))
    .sort((x, y) => Date.parse(x.c.created) - Date.parse(y.c.created));
  for (const [i, m] of replaced.entries()) {
    expect(m.c.image).toBe(b.summary.digests['upgrade-zookeeper']);
    // A majority in quorum again, the replaced member among them (the gate's rule: a majority without it would lose
    // quorum when the next member goes).
    expect(m.health.detail).toMatch(new RegExp(`; replaced \\(member down \\d+\\.\\d s\\), ${zk} in quorum again \\([23] of 3: [^)]*\\b${m.host}\\b`));
    // Created only after the member before passed its gate and the ensemble had quorum again.
    if (i > 0) expect(Date.parse(m.c.created)).toBeGreaterThan(Date.parse(replaced[i - 1].health.endTime!));
  }
  expect(container(controller.name, mc)!.image).toBe(b.summary.digests['upgrade-memcached']);
  expect(bSteps.get(`health:${mc}@${controller.name}`)?.detail).toMatch(/single instance replaced in place: down \d+\.\d s$/);
  expect(await preview('B')).toMatchObject({ services: [], unchanged: 4 });

  // Rollback to A: A's digests everywhere, no image built, and history says so.
  const back = await run(['rollback', fixture.release('B'), '--to', fixture.releaseTag('A'), '--json']);
  expect(back.code).toBe(0);
  expect(back.summary.images).toEqual({ built: 0, skipped: 0, failed: 0, blocked: 0 });
  const backParts = lastJsonLine<{ parts: { kind: string; workflowId: string }[] }>((await cli(['status', back.summary.runId, '--json'], env)).stdout).parts;
  expect(backParts.length).toBeGreaterThan(0);
  expect(backParts.filter((p) => p.kind === 'images' || p.workflowId.endsWith('/images'))).toEqual([]);
  expect(back.stdout).toContain(`rolled back from release upg-${suffix}-B to upg-${suffix}-A, nothing built`);
  for (const c of fixture.containers()) expect(container(c.host, c.name)!.image).toBe(onA.get(`${c.name}@${c.host}`)!.image);
  const history = lastJsonLine<{ runId: string; rollback: { from: string; to: string } | null }[]>((await cli(['history', '--topology', fixture.topologyName, '--json'], env)).stdout);
  expect(history.find((h) => h.runId === back.summary.runId)?.rollback).toEqual({ from: `upg-${suffix}-B`, to: `upg-${suffix}-A` });
  // The release tags of earlier releases stay.
  const unknown = await cli(['rollback', fixture.release('B'), '--to', fixture.releaseTag('nope')], env);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  expect(unknown.stderr).toMatch(new RegExp(`release "upg-${suffix}-nope" is not in the registry .*: .*upg-${suffix}-A, upg-${suffix}-B`));
});
