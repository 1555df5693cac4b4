// The build graph on the real lab (build engine + registry), through the CLI and a worker process: order, registry-aware
// skipping, atomic release tags, blocked children, a registry that goes away for a while.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { cli, labStatus, labTopology, lastJsonLine, registryGet, secret, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';
import { activityAttempts, runHistories } from '../helpers/history';

jest.setTimeout(300000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `b4-${suffix}` };
const names = { base: `b4${suffix}`, web: `b4${suffix}-web`, tools: `b4${suffix}-tools`, broken: `b4${suffix}-broken`, brokenChild: `b4${suffix}-broken-x`, slow: `b4${suffix}-slow` };
let lab: LabStatus;
let worker: WorkerProcess;
let dir: string;

type Summary = RunSummary & { releaseTag: { tag: string; moved: boolean } | null; parked: { id: string }[] };

const dockerfile = (parent: string, run: string) => `ARG BASE_IMAGE=${parent}\nFROM \${BASE_IMAGE}\nRUN ${run}\n`;

/** A catalog of our own (unique names, so nothing from other runs satisfies a check) and a topology that builds it. */
function writeProject(images: (keyof typeof names)[], release: string): string {
  const spec: Record<keyof typeof names, { parent: string | null; run: string }> = {
    base: { parent: null, run: `echo ${suffix} > /id` },
    web: { parent: names.base, run: 'echo web > /role' },
    tools: { parent: names.base, run: 'echo tools > /role' },
    broken: { parent: names.base, run: 'echo about to fail && false' },
    brokenChild: { parent: names.broken, run: 'echo never' },
    slow: { parent: names.base, run: `sleep 4; echo slow-${release} > /role` },
  };
  const catalog = images.map((k) => `  - name: ${names[k]}\n    ${spec[k].parent ? `parent: ${spec[k].parent}` : 'base: busybox:local'}\n    labels: { net.juniper.contrail: common }`).join('\n');
  const files: Record<string, string> = { 'catalog.yaml': `images:\n${catalog}\n` };
  for (const k of images) files[`${names[k]}/Dockerfile`] = dockerfile(spec[k].parent ?? 'busybox:local', spec[k].run);
  dir = scratchDir(files);
  const topology = path.join(dir, `build-${release}.yaml`);
  fs.writeFileSync(topology, labTopology(lab, {
    name: `b4${suffix}`, release, catalog: path.join(dir, 'catalog.yaml'),
    services: `  - { name: svc, image: ${names[images[images.length - 1]]}, stage: common, roles: [controller] }`,
  }));
  return topology;
}

async function build(images: (keyof typeof names)[], release: string, extra: string[] = []) {
  const r = await cli(['build', writeProject(images, release), '--json', ...extra], env);
  return { ...r, summary: lastJsonLine<Summary>(r.stdout) };
}

async function statusSteps(runId: string): Promise<Step[]> {
  const r = await cli(['status', runId, '--json'], env);
  return lastJsonLine<{ steps: Step[] }>(r.stdout).steps;
}

const auth = () => ({ user: lab.registry.username, password: secret(lab, lab.registry.passwordSecret) });
const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json';
async function registryDigest(image: string, tag: string): Promise<string | null> {
  const r = await registryGet(lab, `/v2/${image}/manifests/${tag}`, auth(), ACCEPT);
  return r.status === 200 ? `${lab.registry.address}/${image}@${String(r.headers['docker-content-digest'])}` : null;
}
function engineImages(): string[] {
  const r = spawnSync('docker', ['-H', lab.docker.host, 'images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((l) => l.includes(`/b4${suffix}`));
}

beforeAll(async () => {
  lab = labStatus();
  worker = await startWorker(env);
});
afterAll(async () => {
  await worker?.stop();
  spawnSync('bash', [path.join(PROJECT_ROOT, 'lab/lab.sh'), 'fault', 'registry', 'up']);
});

let first: Awaited<ReturnType<typeof build>>;

test('build --json: every image built and pushed, each sub only after its own parent was pushed; --builds 1 builds one at a time', async () => {
  first = await build(['base', 'web', 'tools'], `r1-${suffix}`, ['--builds', '1']);
  expect(first.code).toBe(0);
  expect(first.summary).toMatchObject({ status: 'completed', images: { built: 3, skipped: 0, failed: 0, blocked: 0 } });
  const steps = await statusSteps(first.summary.runId);
  const basePushed = steps.find((s) => s.id === `push:${names.base}`)!;
  for (const sub of [names.web, names.tools]) {
    const b = steps.find((s) => s.id === `build:${sub}`)!;
    expect(b).toMatchObject({ kind: 'build', target: sub, parent: names.base, status: 'completed' });
    expect(Date.parse(b.startTime!)).toBeGreaterThanOrEqual(Date.parse(basePushed.endTime!));
  }
  // --builds 1 from the command line: the two subs, ready at the same moment, did not build at the same time.
  const [w, t] = [names.web, names.tools].map((n) => steps.find((s) => s.id === `build:${n}`)!).sort((x, y) => Date.parse(x.startTime!) - Date.parse(y.startTime!));
  expect(Date.parse(t.startTime!)).toBeGreaterThanOrEqual(Date.parse(w.endTime!));
  // Each build has its own log file, named in the summary.
  for (const n of [names.base, names.web, names.tools]) expect(fs.readFileSync(first.summary.buildLogs[n], 'utf8')).toContain('Step 1/');
});

test('the release tag points at exactly the digests the summary names', async () => {
  expect(first.summary.releaseTag).toEqual({ tag: `r1-${suffix}`, moved: true, changed: 3 });
  for (const n of [names.base, names.web, names.tools]) expect(await registryDigest(n, `r1-${suffix}`)).toBe(first.summary.digests[n]);
  expect(first.stdout).toContain(`release tag r1-${suffix} now points at:`);
});

test('unchanged images are found in the registry by input hash: no docker build, no push, even with an empty build engine', async () => {
  // Remove them from the build engine: only the registry can know they are done.
  const local = engineImages();
  expect(local.length).toBeGreaterThan(0);
  expect(spawnSync('docker', ['-H', lab.docker.host, 'rmi', '-f', ...local], { encoding: 'utf8' }).status).toBe(0);
  const again = await build(['base', 'web', 'tools'], `r2-${suffix}`);
  expect(again.summary).toMatchObject({ status: 'completed', images: { built: 0, skipped: 3, failed: 0, blocked: 0 } });
  expect(again.summary.digests).toEqual(first.summary.digests);
  expect(engineImages()).toEqual([]);
  const steps = await statusSteps(again.summary.runId);
  expect(steps.filter((s) => s.kind === 'push').map((s) => s.status)).toEqual(['skipped', 'skipped', 'skipped']);
  // The new release tag is published for the set even though nothing was rebuilt.
  expect(await registryDigest(names.web, `r2-${suffix}`)).toBe(first.summary.digests[names.web]);
});

test('a failed image parks; abort blocks its children, other branches finish, and the release tag does not move (no partial release)', async () => {
  const parked = await build(['base', 'web', 'tools', 'broken', 'brokenChild', 'slow'], `r3-${suffix}`);
  // The build still fails after its retries (none, for a Dockerfile error): the run waits for a decision.
  expect(parked.code).toBe(3);
  expect(parked.summary).toMatchObject({ status: 'parked', parked: [{ id: `build:${names.broken}` }] });
  expect(parked.stdout).toContain(`contrail-deploy abort ${parked.summary.runId}`);
  const aborted = await cli(['abort', parked.summary.runId, '--json'], env);
  const r = { ...aborted, summary: lastJsonLine<Summary>(aborted.stdout) };
  expect(r.code).toBe(1);
  expect(r.summary).toMatchObject({ status: 'failed', images: { built: 1, skipped: 3, failed: 1, blocked: 1 }, releaseTag: { tag: `r3-${suffix}`, moved: false } });
  expect(r.summary.failedStep?.id).toBe(`build:${names.broken}`);
  // The reason with the last lines of output, and what to do.
  expect(r.summary.failedStep?.message).toContain('about to fail');
  expect(r.summary.failedStep?.message).toContain('Fix the Dockerfile');
  const steps = await statusSteps(r.summary.runId);
  expect(steps.find((s) => s.id === `build:${names.brokenChild}`)).toMatchObject({ status: 'blocked', detail: `parent ${names.broken} failed` });
  // The unrelated branch (slow) was built and pushed under its input hash...
  expect(steps.find((s) => s.id === `push:${names.slow}`)?.status).toBe('completed');
  expect(r.summary.digests[names.slow]).toMatch(/@sha256:/);
  // ... but no image carries the new release tag.
  for (const n of [names.base, names.web, names.slow]) expect(await registryDigest(n, `r3-${suffix}`)).toBeNull();
  // The Dockerfile error was not retried: one attempt.
  const buildAttempts = activityAttempts(runHistories(r.summary.runId)).filter((a) => a.type === 'buildImage' && (a.input as { image: { name: string } }).image.name === names.broken);
  expect(buildAttempts.map((a) => a.attempt)).toEqual([1]);
  // It ran in the run's image tree part.
  expect(buildAttempts[0].workflowId).toBe(`${r.summary.runId}/images`);
});

test('a registry that goes away while a build runs: the push is retried with backoff and the run completes', async () => {
  const release = `r4-${suffix}`;
  const running = cli(['build', writeProject(['base', 'slow'], release), '--json'], env);
  // Wait until the slow image is building (its lookup is done), then take the registry away for a while.
  const lab_sh = path.join(PROJECT_ROOT, 'lab/lab.sh');
  await waitFor(() => fs.existsSync(path.join(PROJECT_ROOT, '.lab/build-logs')) && findBuildLog(release, names.slow));
  expect(spawnSync('bash', [lab_sh, 'fault', 'registry', 'down']).status).toBe(0);
  await new Promise((r) => setTimeout(r, 8000));
  expect(spawnSync('bash', [lab_sh, 'fault', 'registry', 'up']).status).toBe(0);
  const r = await running;
  const summary = lastJsonLine<Summary>(r.stdout);
  expect(summary).toMatchObject({ status: 'completed', images: { built: 1, skipped: 1 }, releaseTag: { moved: true } });
  expect(await registryDigest(names.slow, release)).toBe(summary.digests[names.slow]);
  // The push of the slow image failed at least once (registry unreachable) and a later attempt succeeded.
  const push = activityAttempts(runHistories(summary.runId)).find((a) => a.type === 'pushImage');
  expect(push?.attempt).toBeGreaterThan(1);
  expect(push?.lastFailure).toMatch(/push of .*-slow to .* failed/);
}, 400000);

function findBuildLog(release: string, image: string): boolean {
  const root = path.join(PROJECT_ROOT, '.lab/build-logs');
  return fs.readdirSync(root).some((run) => run.includes(release) && fs.existsSync(path.join(root, run, `${image}.log`)));
}
async function waitFor(check: () => boolean, timeoutMs = 60000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 200));
  }
}

test('history lists the runs of a release from Temporal visibility, filtered by outcome', async () => {
  const failed = await cli(['history', '--release', `r3-${suffix}`, '--json'], env);
  const runs = lastJsonLine<{ runId: string; status: string; release: string; startTime: string; closeTime: string }[]>(failed.stdout);
  expect(runs).toHaveLength(1);
  expect(runs[0]).toMatchObject({ status: 'failed', release: `r3-${suffix}` });
  expect(Date.parse(runs[0].closeTime)).toBeGreaterThan(Date.parse(runs[0].startTime));
  const completed = await cli(['history', '--topology', `b4${suffix}`, '--status', 'completed', '--json'], env);
  const releases = lastJsonLine<{ release: string }[]>(completed.stdout).map((r) => r.release).sort();
  expect(releases).toEqual([`r1-${suffix}`, `r2-${suffix}`, `r4-${suffix}`]);
  const text = await cli(['history', '--release', `r3-${suffix}`], env);
  expect(text.stdout).toMatch(new RegExp(`failed +\\d+s +r3-${suffix}`));
});
