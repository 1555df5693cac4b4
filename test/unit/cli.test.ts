// The plan and images commands as a user runs them: no side effects, JSON for scripts, clear errors.
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import { cli, lastJsonLine } from '../helpers/lab';

jest.setTimeout(60000);

interface PlanJson {
  release: string;
  images: { name: string; parent: string | null; level: number; labels: Record<string, string>; selected: boolean }[];
  stages: { name: string; services: { name: string; host: string; image: string; env: Record<string, string> }[] }[];
}

test('plan --json: release, images with parent and level, stages in order with each container', async () => {
  const r = await cli(['plan', 'topology/smoke.yaml', '--json']);
  expect(r.code).toBe(0);
  const plan = lastJsonLine<PlanJson>(r.stdout);
  expect(plan.release).toBe('2026.11-smoke');
  expect(plan.images.find((i) => i.name === 'smoke-web')).toMatchObject({ parent: 'smoke-base', level: 1, labels: { 'net.juniper.node': 'controller' } });
  expect(plan.images.find((i) => i.name === 'smoke-base')).toMatchObject({ parent: null, level: 0 });
  expect(plan.stages.map((s) => s.name)).toEqual(['common', 'database', 'config', 'control', 'analytics', 'webui', 'openstack', 'compute']);
  expect(plan.stages[0].services.find((s) => s.name === 'smoke-web')).toMatchObject({ host: 'controller1', image: 'smoke-web', env: { HOST_IP: '10.213.57.11' } });
});

test("plan --catalog reads the original's build files: every base before its subs", async () => {
  for (const file of ['structure-2015.yaml', 'structure-2016.yaml']) {
    const r = await cli(['plan', '--catalog', path.join(PROJECT_ROOT, 'test/fixtures/legacy', file), '--json']);
    expect(r.code).toBe(0);
    const plan = lastJsonLine<PlanJson>(r.stdout);
    const level = new Map(plan.images.map((i) => [i.name, i.level]));
    for (const i of plan.images) if (i.parent) expect(level.get(i.parent)).toBeLessThan(i.level);
    expect(plan.images.find((i) => i.name === 'config-api')?.parent).toBe('config');
  }
  const text = await cli(['plan', '--catalog', path.join(PROJECT_ROOT, 'test/fixtures/legacy/structure-2015.yaml'), '--images', 'subs']);
  expect(text.stdout).toContain('level 0: analytics (ancestor), config (ancestor), control (ancestor), nova (ancestor), webui (ancestor)');
});

test('images --filter lists exactly the images with that label', async () => {
  const r = await cli(['images', 'topology/smoke.yaml', '--filter', 'label=net.juniper.node=controller', '--json']);
  expect(r.code).toBe(0);
  const images = lastJsonLine<{ name: string }[]>(r.stdout);
  expect(images.map((i) => i.name)).toContain('smoke-web');
  expect(images.map((i) => i.name)).not.toContain('smoke-base');
});

test('bad input: a YAML error names file, line and column; an unknown image is named; exit 2, no stack trace', async () => {
  const bad = await cli(['plan', '--catalog', path.join(PROJECT_ROOT, 'test/fixtures/legacy/structure-2015.yaml'), '--images', 'nope']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('--images: no image named nope');
  const both = await cli(['plan', 'topology/smoke.yaml', '--catalog', 'x.yaml']);
  expect(both.code).toBe(2);
  expect(both.stderr).toContain('give either a topology or --catalog, not both');
  for (const r of [bad, both]) expect(r.stderr).not.toMatch(/\n\s+at /);
});
