// `plan --against-hosts`: from what differs on the hosts and which images a run builds anew, what a run would change,
// stage by stage, and how many at once (the rules of workflows/replacement.ts).
import * as path from 'path';
import { loadPlan } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import type { DriftItem } from '../../model/drift';
import type { Plan } from '../../model/plan';
import { renderUpgradeOrder, upgradeOrder } from '../../model/upgrade-order';

const { plan } = loadPlan(path.join(PROJECT_ROOT, 'topology/production.yaml'));
const containers = plan.stages.flatMap((s) => s.containers);
const item = (container: string, host: string, kind: DriftItem['kind'], detail: string = kind): DriftItem => ({ host, container, kind, detail });
const order = (drift: DriftItem[], rebuilt: string[] = [], p: Plan = plan, unasked: string[] = []) => upgradeOrder({ plan: p, drift, rebuilt: new Set(rebuilt), unasked: new Set(unasked) });

test('hosts that run the plan: nothing changes, every container counted unchanged', () => {
  const o = order([]);
  expect(o.services).toEqual([]);
  expect(o.unchanged).toBe(containers.length);
  expect(renderUpgradeOrder(o, plan).join('\n')).toContain('nothing: every planned container runs as planned');
});

test('an image built anew replaces its cluster one member at a time; other drift says what happens to each container', () => {
  const o = order([
    item('redis', 'ctl2', 'missing'),
    item('memcached', 'ctl1', 'image'), item('memcached', 'ctl3', 'spec'),
    item('mariadb', 'ctl1', 'stopped', 'exited'),
    item('keystone', 'ctl1', 'unhealthy', 'does not answer its health check'),
    item('old-thing', 'ctl1', 'orphan'),
  ], ['zookeeper']);
  const by = (service: string) => o.services.find((s) => s.service === service)!;
  expect(by('zookeeper')).toMatchObject({ cluster: true, instances: 3, atOnce: 1 });
  expect(by('zookeeper').changes.map((c) => [c.host, c.action])).toEqual([['ctl1', 'replace'], ['ctl2', 'replace'], ['ctl3', 'replace']]);
  expect(by('zookeeper').changes[0].why).toBe('its image zookeeper is built anew (its inputs changed)');
  expect(by('redis').changes).toEqual([{ container: 'redis', host: 'ctl2', action: 'create', why: 'not on the host' }]);
  expect(by('memcached')).toMatchObject({ cluster: false, instances: 3, atOnce: 1 });
  expect(by('memcached').changes.map((c) => c.action)).toEqual(['replace', 'replace']);
  expect(by('mariadb').changes[0].action).toBe('recreate');
  expect(by('keystone').changes[0].action).toBe('gate');
  expect(o.orphans.map((d) => d.container)).toEqual(['old-thing']);
  // Stages in the plan's order; every other container unchanged.
  const stageOrder = plan.stages.map((s) => s.name);
  const stages = o.services.map((s) => s.stage);
  expect(stages).toEqual([...stages].sort((a, b) => stageOrder.indexOf(a) - stageOrder.indexOf(b)));
  expect(o.unchanged).toBe(containers.length - o.services.reduce((n, s) => n + s.changes.length, 0));

  const text = renderUpgradeOrder(o, plan).join('\n');
  expect(text).toMatch(/zookeeper \(stage database, cluster of 3: one member at a time\):\n\s+1\. replace\s+zookeeper on ctl1: its image zookeeper is built anew/);
  expect(text).toMatch(/\n\s+2\. replace\s+zookeeper on ctl2/);
  expect(text).toMatch(/orphan\s+old-thing on ctl1: removed only by "run --remove-orphans" or "down --orphans"/);
});

test('maxUnavailable sets how many instances go at once; recreate replaces all at once; unasked hosts are left out', () => {
  const drift = ['ctl1', 'ctl2', 'ctl3'].map((h) => item('memcached', h, 'image'));
  expect(order(drift, [], { ...plan, rollout: { ...plan.rollout, maxUnavailable: 2 } }).services[0]).toMatchObject({ service: 'memcached', atOnce: 2 });
  const recreate = order(drift, [], { ...plan, rollout: { ...plan.rollout, upgrade: 'recreate' } });
  expect(recreate).toMatchObject({ rolling: false, services: [{ service: 'memcached', atOnce: 3 }] });
  expect(renderUpgradeOrder(recreate, plan).join('\n')).toContain('memcached (stage common, replaced all at once)');
  const partly = order(drift, [], plan, ['ctl2']);
  expect(partly.services[0].changes.map((c) => c.host)).toEqual(['ctl1', 'ctl3']);
});
