// The rolling-upgrade settings of a topology (rollout.maxUnavailable, rollout.upgrade) and the ordering rule they feed.
import * as fs from 'fs';
import * as path from 'path';
import { loadTopology } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import { replacementsAtOnce, rollingUpgrades } from '../../model/rollout';
import { DEFAULT_ROLLOUT } from '../../model/types';
import { configProblems, scratchDir } from '../helpers/files';

/** topology/smoke.yaml with a rollout block of its own, written where its catalog path still resolves. */
function smokeWith(rollout: string): string {
  const text = fs.readFileSync(path.join(PROJECT_ROOT, 'topology/smoke.yaml'), 'utf8').replace(/^catalog: \.\.\//m, `catalog: ${PROJECT_ROOT}/`);
  const file = path.join(scratchDir({}), 'smoke.yaml');
  fs.writeFileSync(file, `${text}\n${rollout}\n`);
  return file;
}

test('rollout.maxUnavailable and rollout.upgrade are read when set; plans without them are unchanged', () => {
  expect(loadTopology(smokeWith('rollout: { maxUnavailable: 3, upgrade: recreate }')).rollout).toEqual({ ...DEFAULT_ROLLOUT, maxUnavailable: 3, upgrade: 'recreate' });
  expect(loadTopology(smokeWith('')).rollout).toEqual(DEFAULT_ROLLOUT);
  const bad = configProblems(() => loadTopology(smokeWith('rollout: { maxUnavailable: 0, upgrade: sideways }')));
  expect(bad).toMatch(/smoke\.yaml:\d+:\d+: rollout\.maxUnavailable: 0 is out of range \(use 1\.\.1000\)/);
  expect(bad).toMatch(/smoke\.yaml:\d+:\d+: rollout\.upgrade: invalid value "sideways" \(rolling \(one at a time/);
});

test('a cluster is replaced one member at a time, other services maxUnavailable instances at once (default 1), a single one in place', () => {
  const quorum = { command: ['true'] };
  expect(replacementsAtOnce({ quorum }, 5, { ...DEFAULT_ROLLOUT, maxUnavailable: 3 })).toBe(1);
  expect(replacementsAtOnce({}, 5, { ...DEFAULT_ROLLOUT, maxUnavailable: 3 })).toBe(3);
  expect(replacementsAtOnce({}, 2, { ...DEFAULT_ROLLOUT, maxUnavailable: 3 })).toBe(2);
  expect(replacementsAtOnce({}, 5, DEFAULT_ROLLOUT)).toBe(1);
  expect(replacementsAtOnce({}, 1, DEFAULT_ROLLOUT)).toBe(1);
  expect(rollingUpgrades(DEFAULT_ROLLOUT)).toBe(true);
  expect(rollingUpgrades({ ...DEFAULT_ROLLOUT, upgrade: 'recreate' })).toBe(false);
});
