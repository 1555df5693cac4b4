// The plan as workflows carry it, and the parts a run is split into: sizes stay bounded as the fleet grows.
import { loadPlan } from '../../lib/load';
import { compactPlan, compactSlice, expandPlan } from '../../model/compact-plan';
import { HOST_GROUP_SIZE, hostParts, partWorkflowId } from '../../model/parts';
import type { Plan } from '../../model/plan';
import { PROJECT_ROOT } from '../../lib/paths';

const production = loadPlan(`${PROJECT_ROOT}/topology/production.yaml`).plan;
const lab = loadPlan(`${PROJECT_ROOT}/topology/lab.yaml`).plan;

/** production.yaml with its compute hosts replaced by n of them (addresses from a documentation range). */
function withComputes(plan: Plan, n: number): Plan {
  const template = plan.hosts.find((h) => h.roles.includes('compute'))!;
  const computes = Array.from({ length: n }, (_, i) => ({ ...template, name: `compute${String(i + 1).padStart(4, '0')}`, address: `198.51.${100 + Math.floor(i / 250)}.${(i % 250) + 1}` }));
  const isCompute = (host: string) => plan.hosts.find((h) => h.name === host)!.roles.includes('compute');
  const stages = plan.stages.map((s) => {
    const templates = [...new Map(s.containers.filter((c) => isCompute(c.host)).map((c) => [c.name, c])).values()];
    const own = s.containers.filter((c) => !isCompute(c.host));
    return { ...s, containers: [...own, ...templates.flatMap((c) => computes.map((h) => ({ ...c, host: h.name, hostAddress: h.address, env: { ...c.env, HOST_IP: h.address } })))] };
  });
  return { ...plan, hosts: [...plan.hosts.filter((h) => !h.roles.includes('compute')), ...computes], stages, concurrency: { ...plan.concurrency, hosts: 50 } };
}
const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

test('the compact plan expands back to exactly the plan (lab, production)', () => {
  for (const plan of [lab, production]) expect(expandPlan(compactPlan(plan))).toEqual(plan);
  // A service whose env names a literal address that happens to be one host's own stays exact on the others.
  const odd = { ...lab, stages: lab.stages.map((s) => ({ ...s, containers: s.containers.map((c) => ({ ...c, env: { ...c.env, PINNED: lab.hosts[0].address } })) })) };
  expect(expandPlan(compactPlan(odd))).toEqual(odd);
});

test('at 1,000 compute hosts the run input and each part input stay under 256 KB, and grow no worse than linearly', () => {
  const sizes = [100, 1000].map((n) => {
    const plan = withComputes(production, n);
    const compact = compactPlan(plan);
    const parts = hostParts(plan).flat(2);
    const largestSlice = Math.max(...parts.map((p) => bytes(compactSlice(compact, p.stage, p.hosts))));
    return { full: bytes(plan), compact: bytes(compact), largestSlice };
  });
  expect(sizes[1].full).toBeGreaterThan(2 * 1024 * 1024); // what the old design sent as one payload
  expect(sizes[1].compact).toBeLessThan(256 * 1024);
  expect(sizes[1].largestSlice).toBeLessThan(256 * 1024);
  expect(sizes[1].compact / sizes[0].compact).toBeLessThan(10);
});

test('every host is prepared exactly once, in its first stage; groups hold at most HOST_GROUP_SIZE hosts', () => {
  const plan = withComputes(production, 1000);
  const parts = hostParts(plan).flat(2);
  const prepared = parts.flatMap((p) => p.prepare);
  expect(prepared.sort()).toEqual(plan.hosts.map((h) => h.name).sort());
  for (const p of parts) expect(p.hosts.length).toBeLessThanOrEqual(HOST_GROUP_SIZE);
  const compute = hostParts(plan)[plan.stages.findIndex((s) => s.name === 'compute')];
  // The canary, then 25% at a time: 1 + 4 batches; a batch of 250 hosts is 3 groups of near-equal size.
  expect(compute.map((b) => b.map((p) => p.hosts.length))).toEqual([[1], [84, 83, 83], [84, 83, 83], [84, 83, 83], [83, 83, 83]]);
  expect(partWorkflowId('r', compute[1][2])).toBe('r/stage/compute/batch-2-of-5/group-3-of-3');
});

test('the host limit is shared out over the parts of a batch: never more in flight than concurrency.hosts', () => {
  for (const limit of [1, 2, 4, 50, 200]) {
    const plan = { ...withComputes(production, 1000), concurrency: { ...production.concurrency, hosts: limit } };
    for (const batch of hostParts(plan).flat()) {
      const inFlight = batch.slice(0, batch[0].parallel).reduce((n, p) => n + p.slots, 0);
      expect(inFlight).toBeLessThanOrEqual(limit);
      expect(inFlight).toBeGreaterThanOrEqual(Math.min(limit, batch.length));
    }
  }
});

test('members of a clustered service share one part, so its quorum gate sees them all', () => {
  for (const batches of hostParts(withComputes(production, 300))) {
    for (const batch of batches) {
      for (const part of batch) {
        const stage = production.stages.find((s) => s.name === part.stage)!;
        for (const c of stage.containers.filter((x) => x.quorum && part.hosts.includes(x.host))) {
          const members = stage.containers.filter((x) => x.service === c.service).map((x) => x.host);
          expect(members.every((h) => part.hosts.includes(h))).toBe(true);
        }
      }
    }
  }
});
