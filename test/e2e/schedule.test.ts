// Scheduled builds on the lab's Temporal (Temporal Schedules): `trigger` starts a build run that `history` lists with
// the schedule as initiator; a schedule fires on its cron, and once paused it starts no more; a deleted schedule and
// a cron expression that does not parse are one line and exit 2. Every schedule is deleted in afterAll, so none fires
// later in anyone's tests. On the smoke images (in the registry already: each run only looks them up).
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { HistoryEntry } from '../../cli/history';
import { scratchDir } from '../helpers/files';
import { cli, labStatus, labTopology, lastJsonLine, startWorker, uniqueSuffix, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(180000);

const suffix = uniqueSuffix();
const release = `sched-${suffix}`;
const yearly = `sched-yearly-${suffix}`;
const everyFiveSeconds = `sched-5s-${suffix}`;
let worker: WorkerProcess;
let env: NodeJS.ProcessEnv;
let topology: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The runs a schedule started, as `history` lists them. */
async function runsOf(schedule: string): Promise<HistoryEntry[]> {
  const r = await cli(['history', '--release', release, '--limit', '100', '--json'], env);
  return lastJsonLine<HistoryEntry[]>(r.stdout).filter((e) => e.initiator === `schedule ${schedule}`);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 60000): Promise<T> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await sleep(1000)) {
    const found = await probe();
    if (found !== undefined) return found;
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  const lab = labStatus();
  env = { CONTRAIL_TASK_QUEUE_PREFIX: `sched-${suffix}` };
  topology = path.join(scratchDir({}), 'sched.yaml');
  fs.writeFileSync(topology, labTopology(lab, {
    name: `sched${suffix}`, release, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
    services: '  - { name: smoke-web, image: smoke-web, stage: common, roles: [controller] }',
  }));
  worker = await startWorker(env);
});
afterAll(async () => {
  await Promise.all([yearly, everyFiveSeconds].map((id) => cli(['schedule', 'delete', id], env)));
  await worker?.stop();
});

test('trigger starts a build run that history lists with the schedule as its initiator', async () => {
  const created = await cli(['schedule', 'create', topology, '--cron', '0 0 1 1 *', '--build-only', '--id', yearly], env);
  expect(created).toMatchObject({ code: 0, stdout: expect.stringMatching(/created: builds .* on "0 0 1 1 \*"; next at \d{4}-01-01T00:00:00/) });
  const list = lastJsonLine<{ id: string; paused: boolean; cron: string; buildOnly: boolean }[]>((await cli(['schedule', 'list', '--json'], env)).stdout);
  expect(list.find((s) => s.id === yearly)).toMatchObject({ paused: false, cron: '0 0 1 1 *', buildOnly: true });

  const triggered = await cli(['schedule', 'trigger', yearly], env);
  const runId = /triggered: run (\S+)/.exec(triggered.stdout)?.[1];
  expect(runId).toMatch(new RegExp(`^${yearly}-\\d{4}-`));
  const entry = await until('the triggered run to complete', async () => (await runsOf(yearly)).find((e) => e.runId === runId && e.status === 'completed'));
  expect(entry).toMatchObject({ release, topology: `sched${suffix}`, initiator: `schedule ${yearly}`, scheduledBy: yearly });
  // A build run: the image part only, named after the run.
  const status = await cli(['status', runId!, '--json'], env);
  expect(lastJsonLine<{ parts: { workflowId: string; status: string }[] }>(status.stdout).parts).toEqual([expect.objectContaining({ workflowId: `${runId}/images`, status: 'completed' })]);
});

test('a schedule fires on its cron; paused, it starts no more; deleted, it is gone', async () => {
  // Seven fields: seconds first, then the usual five, then the year.
  expect((await cli(['schedule', 'create', topology, '--cron', '*/5 * * * * * *', '--build-only', '--id', everyFiveSeconds], env)).code).toBe(0);
  await until('a run on the cron', async () => ((await runsOf(everyFiveSeconds)).length ? true : undefined), 30000);
  expect((await cli(['schedule', 'pause', everyFiveSeconds], env)).code).toBe(0);
  const idle = await until('the last run to end', async () => {
    const d = lastJsonLine<{ paused: boolean; running: string[] }>((await cli(['schedule', 'describe', everyFiveSeconds, '--json'], env)).stdout);
    return d.running.length ? undefined : d;
  });
  expect(idle.paused).toBe(true);
  const before = (await runsOf(everyFiveSeconds)).map((e) => e.runId);
  await sleep(12000); // two firings' worth
  expect((await runsOf(everyFiveSeconds)).map((e) => e.runId)).toEqual(before);

  expect((await cli(['schedule', 'delete', everyFiveSeconds], env)).code).toBe(0);
  for (const sub of ['describe', 'trigger', 'pause']) {
    const gone = await cli(['schedule', sub, everyFiveSeconds], env);
    expect({ code: gone.code, stderr: gone.stderr.trim() }).toEqual({ code: 2, stderr: `contrail-deploy schedule ${sub}: no schedule "${everyFiveSeconds}" (default namespace): "contrail-deploy schedule list" shows them` });
  }
});

test('bad input: a cron expression that does not parse is one line and exit 2, and no schedule is made', async () => {
  for (const cron of ['61 * * * *', 'every night']) {
    const r = await cli(['schedule', 'create', topology, '--cron', cron, '--id', `sched-bad-${suffix}`], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining(`cron expression "${cron}" does not parse`)]);
  }
  expect((await cli(['schedule', 'describe', `sched-bad-${suffix}`], env)).code).toBe(2);
});
