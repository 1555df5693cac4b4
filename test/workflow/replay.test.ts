// Recorded histories of real runs on the lab (test/fixtures/histories, made by scripts/record-histories.sh: each run and
// each of its parts) must replay against today's workflow code: a change that would break runs in flight fails here,
// and must be guarded with patched().
import * as fs from 'fs';
import * as path from 'path';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { PROJECT_ROOT } from '../../lib/paths';

const DIR = path.join(PROJECT_ROOT, 'test/fixtures/histories');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));

let bundle: WorkflowBundleWithSourceMap;
beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  // Bundled once for every history (bundling is most of a replay's time).
  bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('ERROR') });
});

// deploy-noop-* are not made by the script: no-op redeploys of topology/lab.yaml (every stage, two compute batches),
// each recorded with the code before a patch, and kept as recorded to prove that guard: deploy-noop-stages from before
// parts started ahead of their turn ("parts-ahead-of-turn"), deploy-noop-ahead from before settled parts prepared the
// hosts they surveyed ahead ("prepare-ahead-of-turn"), deploy-noop-prepared from before the first stage's part
// started with the image lookups ("parts-before-images").
test('there are recorded histories of each scenario, the run and each of its parts: a completed deploy, a redeploy settled by the survey, a build, a failed deploy, a parked then aborted deploy and its resume, multi-stage no-ops from before parts ahead of their turn, before preparation ahead and before parts started with the image lookups', () => {
  const scenarios = ['build-tree', 'deploy-completed', 'deploy-failed-kernel-module', 'deploy-noop-ahead', 'deploy-noop-prepared', 'deploy-noop-stages', 'deploy-parked-aborted', 'deploy-resumed', 'deploy-surveyed'];
  expect([...new Set(files.map((f) => f.split('.')[0]))].sort()).toEqual(scenarios);
  for (const s of scenarios) expect(files.filter((f) => f.startsWith(`${s}.`)).length).toBeGreaterThanOrEqual(2);
  // Each kind of workflow is covered: the run, the image tree and a group of hosts.
  const types = new Set(files.map((f) => (JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as { events: { workflowExecutionStartedEventAttributes?: { workflowType: { name: string } } }[] }).events[0].workflowExecutionStartedEventAttributes?.workflowType.name));
  expect([...types].sort()).toEqual(['buildImageTree', 'deployPipeline', 'rolloutHosts']);
});

test.each(files)('%s replays without a determinism error', async (file) => {
  const history = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as unknown;
  await Worker.runReplayHistory({ workflowBundle: bundle, replayName: file }, history as never, file);
}, 120000);
