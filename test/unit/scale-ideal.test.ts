// The scale benchmark's ideal (bench/scale.ts): the critical path of a run's own recorded steps under the host limit,
// retries included, so that wall / ideal shows only what Temporal and the workers add.
import { criticalPathSeconds, recordedStepTimes } from '../../bench/scale';
import type { SimulatedAttempt } from '../../activities/simulated';
import type { Plan, PlannedContainer } from '../../model/plan';
import { DEFAULT_CONCURRENCY, DEFAULT_ROLLOUT } from '../../model/types';

const container = (name: string, host: string, stage: string): PlannedContainer => ({
  name, service: name, host, hostAddress: '127.0.0.1', image: 'smoke-web', stage, env: {}, volumes: [], privileged: false, capAdd: [], labels: {}, health: { tcp: 1, timeoutSeconds: 1 }, standin: null, command: null,
});

function plan(slots: number): Plan {
  const host = (name: string) => ({ name, address: '127.0.0.1', sshPort: 22, roles: [], directories: [], kernelModules: [] });
  return {
    topology: 't', topologyFile: '/t.yaml', release: 'r1',
    registry: { address: 'reg:5000', ca: null, username: 'u', password: { secret: 'PW' } },
    ssh: { user: 'root', keyFile: null, knownHosts: '/kh' },
    images: [],
    hosts: [host('h1'), host('h2'), host('h3')],
    stages: [
      { name: 'common', containers: [container('c1', 'h1', 'common'), container('c2', 'h2', 'common')] },
      { name: 'database', containers: [container('c3', 'h1', 'database'), container('c4', 'h3', 'database')] },
    ],
    concurrency: { ...DEFAULT_CONCURRENCY, hosts: slots },
    rollout: DEFAULT_ROLLOUT,
  };
}

const ok = (...ms: number[]): SimulatedAttempt[] => ms.map((m) => ({ ms: m, failed: false }));
// h1's gate for c1 failed once (40 ms), was retried after the first backoff (2 s) and answered (60 ms); h1 pulls once
// per stage it runs something in (10 ms, then 20 ms).
const recorded = new Map<string, SimulatedAttempt[]>([
  ['h1|prepare', ok(100)], ['h1|survey containers', ok(50)], ['h1|pull images', ok(10, 20)],
  ['h1|start c1', ok(30)], ['h1|health c1', [{ ms: 40, failed: true }, { ms: 60, failed: false }]],
  ['h2|prepare', ok(200)], ['h2|survey containers', ok(70)], ['h2|pull images', ok(5)], ['h2|start c2', ok(15)], ['h2|health c2', ok(25)],
  ['h1|start c3', ok(11)], ['h1|health c3', ok(13)],
  ['h3|survey containers', ok(500)], ['h3|prepare', ok(7)], ['h3|pull images', ok(3)], ['h3|start c4', ok(1)], ['h3|health c4', ok(2)],
]);

test("a run's ideal: the first part's surveys (h3's ahead of its turn) and preparations, then its bring-up; the retry backoff after a fault; hosts sharing the limit's slots; stages one after the other", () => {
  // common, one slot: preparations 100 + 200 and surveys 50 + 70 + 500 (h3 is surveyed ahead: it runs c4 later) = 920,
  // then h1 = pull 10 + start 30 + health (40 + 2000 + 60) = 2140 and h2 = 5 + 15 + 25 = 45; database: h1 = pull 20 +
  // start 11 + health 13 = 44 (prepared already), h3 = prepare 7 + 3 + 1 + 2 = 13.
  expect(criticalPathSeconds(plan(1), recordedStepTimes(plan(1), recorded))).toBeCloseTo((920 + 2140 + 45 + 44 + 13) / 1000, 6);
  // Two slots: the surveys and preparations end at 700 (h3's survey after h2's preparation), h1's bring-up decides
  // common, and the two database hosts go side by side.
  expect(criticalPathSeconds(plan(2), recordedStepTimes(plan(2), recorded))).toBeCloseTo((700 + 2140 + 44) / 1000, 6);
});
