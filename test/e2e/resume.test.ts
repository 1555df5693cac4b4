// Resume on the real lab: a run fails at a health gate (parked, then aborted); the cause is fixed on the host;
// `resume` starts a new run linked to the old one that redoes nothing finished (checked against the registry and the
// hosts: no build, no push, the same containers), and completes. Then the Temporal UI, in headless Chromium, finds
// both runs by their ReleaseTag and shows the failed run's summary and failed step.
import * as fs from 'fs';
import * as path from 'path';
import type { Locator, Page } from 'playwright-core';
import { labDir, PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import type { HistoryEntry } from '../../cli/history';
import { withBrowser } from '../helpers/browser';
import { scratchDir } from '../helpers/files';
import { activityAttempts, runHistories } from '../helpers/history';
import { cli, labStatus, labTopology, lastJsonLine, sshRun, startWorker, uniqueSuffix, type CliResult, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(300000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `rs-${suffix}` };
const release = `rs-${suffix}`;
const front = `rs-front-${suffix}`;
const back = `rs-back-${suffix}`;
const dataDir = `/dockervolumes/rs-${suffix}`;
const ports = [25000 + Math.floor(Math.random() * 8000), 33000 + Math.floor(Math.random() * 8000)];
let lab: LabStatus;
let worker: WorkerProcess;
let topology: string;
let failed: CliResult & { summary: RunSummary };
let resumed: CliResult & { summary: RunSummary };
const containerIds: Record<string, string> = {};

const containerId = (name: string) => sshRun(lab, 'controller1', `docker inspect -f '{{.Id}}' ${name}`).stdout.trim();

beforeAll(async () => {
  lab = labStatus();
  topology = path.join(scratchDir({}), 'rs.yaml');
  // The back service's gate asks for a file that only an operator's fix creates.
  fs.writeFileSync(topology, labTopology(lab, {
    name: `rs${suffix}`, release, catalog: path.join(PROJECT_ROOT, 'images/smoke.yaml'),
    services: `  - { name: ${front}, image: smoke-web, stage: common, roles: [controller], env: { LISTEN_PORT: "${ports[0]}" }, health: { tcp: ${ports[0]}, timeoutSeconds: 30 } }
  - { name: ${back}, image: smoke-web, stage: database, roles: [controller], env: { LISTEN_PORT: "${ports[1]}" }, volumes: ["${dataDir}:/data"], health: { tcp: ${ports[1]}, command: [test, -f, /data/ready], timeoutSeconds: 5 } }`,
  }));
  worker = await startWorker(env);
  const parked = await cli(['run', topology, '--json'], env);
  if (parked.code !== 3) throw new Error(`expected the run to park:\n${parked.stdout}\n${parked.stderr}`);
  const aborted = await cli(['abort', lastJsonLine<RunSummary>(parked.stdout).runId, '--json'], env);
  failed = { ...aborted, summary: lastJsonLine<RunSummary>(aborted.stdout) };
  for (const name of [front, back]) containerIds[name] = containerId(name);
  // The operator's fix, on the host.
  sshRun(lab, 'controller1', `touch ${dataDir}/ready`);
  const r = await cli(['resume', failed.summary.runId, '--json'], env);
  resumed = { ...r, summary: lastJsonLine<RunSummary>(r.stdout) };
});
afterAll(async () => {
  await worker?.stop();
  sshRun(lab, 'controller1', `docker rm -f ${front} ${back} >/dev/null 2>&1; rm -rf ${dataDir}`);
});

test('the first run failed at the gate, naming it', () => {
  expect(failed.code).toBe(1);
  expect(failed.summary).toMatchObject({ status: 'failed', failedStep: { id: `health:${back}@controller1` }, containers: { created: 2 } });
  expect(failed.summary.failedStep!.message).toContain('/data/ready');
});

test('resume completes a new run linked to the old one', () => {
  expect(resumed.code).toBe(0);
  expect(resumed.stdout).toContain(`(resumes ${failed.summary.runId})`);
  expect(resumed.summary.runId).not.toBe(failed.summary.runId);
  expect(resumed.summary).toMatchObject({ status: 'completed', resumedFrom: failed.summary.runId, release });
});

test('nothing finished is redone: no build or push (the registry has them), the same containers', async () => {
  expect(resumed.summary.images).toEqual({ built: 0, skipped: 2, failed: 0, blocked: 0 });
  expect(resumed.summary.containers).toEqual({ created: 0, recreated: 0, unchanged: 2 });
  for (const name of [front, back]) expect(containerId(name)).toBe(containerIds[name]);
  const attempts = activityAttempts(runHistories(resumed.summary.runId)).map((a) => a.type);
  expect(attempts).not.toContain('buildImage');
  expect(attempts).not.toContain('pushImage');
  // ...but checked: the image tree looked up in the registry (one lookup answers for both images), and the host
  // surveyed: both containers run as planned and answer their checks now (the back one's command too), so neither
  // needs a start or gate step of its own.
  expect(attempts.filter((a) => a === 'lookupImages')).toHaveLength(1);
  expect(attempts.filter((a) => a === 'lookupImage')).toHaveLength(0);
  expect(attempts.filter((a) => a === 'surveyHost')).toHaveLength(1);
  expect(attempts.filter((a) => a === 'startContainer' || a === 'checkHealth')).toHaveLength(0);
  const steps = lastJsonLine<{ steps: Step[] }>((await cli(['status', resumed.summary.runId, '--json'], env)).stdout).steps;
  // One survey of the host, in its first stage, for both stages' containers.
  expect(steps.find((s) => s.id === 'survey:common@controller1')).toMatchObject({ status: 'completed', detail: '1 of 1 run as planned and answer; later stages: 1 of 1' });
  expect(steps.find((s) => s.id === `health:${back}@controller1`)).toMatchObject({ status: 'completed', detail: 'answered at the survey' });
});

test('history shows both runs of the release: the failed one and its resume', async () => {
  const r = await cli(['history', '--release', release, '--json'], env);
  const entries = lastJsonLine<HistoryEntry[]>(r.stdout);
  expect(entries.map((e) => [e.runId, e.status, e.resumedFrom])).toEqual([
    [resumed.summary.runId, 'completed', failed.summary.runId],
    [failed.summary.runId, 'failed', null],
  ]);
});

test('resume refuses a completed run and an unknown one, saying what to do', async () => {
  const done = await cli(['resume', resumed.summary.runId], env);
  expect(done.code).not.toBe(0);
  expect(done.stderr).toContain('completed: nothing to resume');
  const unknown = await cli(['resume', `no-such-run-${suffix}`], env);
  expect(unknown.code).not.toBe(0);
  expect(unknown.stderr).toContain('contrail-deploy history');
  expect(unknown.stderr).not.toMatch(/\n\s+at /);
});

/** Waits until the element is on the page and visible (fails the test with playwright's message otherwise). */
const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: 20000 });
/** The UI renders a run's summary (markdown) in the first of its sandboxed frames. */
const summaryPane = (page: Page) => page.frameLocator('iframe[src*="/render?"]').first();

describe('the Temporal UI (headless Chromium)', () => {
  const ui = () => lab.temporal.ui.replace(/\/$/, '');

  test('finds both runs by ReleaseTag; the failed run shows its summary and the failed step; the resume names it', async () => {
    await withBrowser(async (page) => {
      await page.goto(`${ui()}/namespaces/default/workflows?query=${encodeURIComponent(`ReleaseTag="${release}"`)}`);
      const list = page.locator('table');
      await visible(list.getByText(failed.summary.runId, { exact: true }));
      await visible(list.getByText(resumed.summary.runId, { exact: true }));

      await list.getByText(failed.summary.runId, { exact: true }).click();
      // History: the run's failure, naming the step.
      await visible(page.getByText(`step health:${back}@controller1 failed`).first());
      // User metadata: what the run was (its summary), and each step by name with its outcome.
      await page.getByText('User Metadata').click();
      await visible(summaryPane(page).getByText(`Deploy rs${suffix} release ${release}`, { exact: true }));
      // The failed part's row, by its summary: the innermost element holding both its name and an outcome.
      const partRow = page.locator('div').filter({ has: page.getByText('stage database: 1 host (controller1)', { exact: true }) }).filter({ hasText: /Failed|Completed/ }).last();
      await visible(partRow.getByText('Failed', { exact: true }));
      const shot = path.join(labDir(), 'screenshots', 'ui-failed-run.png');
      fs.mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot });
      // The part's own page: it failed, its failure names the step, and its timeline shows the gate's activity by its
      // summary.
      await page.goto(`${ui()}/namespaces/default/workflows/${encodeURIComponent(`${failed.summary.runId}/stage/database`)}`);
      await visible(page.getByText('Failed', { exact: true }).first());
      await visible(page.getByText(`step health:${back}@controller1 failed`).first());
      await visible(page.getByText(`checkHealth • health gate ${back} on controller1`, { exact: true }).first());
      await page.screenshot({ path: path.join(labDir(), 'screenshots', 'ui-failed-part.png') });

      await page.goto(`${ui()}/namespaces/default/workflows/${encodeURIComponent(resumed.summary.runId)}`);
      await page.getByText('User Metadata').click();
      await visible(summaryPane(page).getByText(`Deploy rs${suffix} release ${release} (resumes ${failed.summary.runId})`, { exact: true }));
    });
  });
});
