// Recorded histories of real runs on the lab (test/fixtures/histories, from `temporal workflow show --output json`)
// must replay against today's workflow code: a change that would break runs in flight fails here, and must be
// guarded with patched().
import * as fs from 'fs';
import * as path from 'path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { PROJECT_ROOT } from '../../lib/paths';

const DIR = path.join(PROJECT_ROOT, 'test/fixtures/histories');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));

beforeAll(() => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
});

test('there are recorded histories: a completed deploy, a failed deploy, a whole-tree build; with child workflows: a parked then aborted deploy and its resume; a redeploy settled by the host survey', () => {
  expect(files.sort()).toEqual(['build-tree.json', 'deploy-completed.json', 'deploy-failed-kernel-module.json', 'deploy-parked-aborted.json', 'deploy-resumed.json', 'deploy-surveyed.json']);
});

test.each(files)('%s replays without a determinism error', async (file) => {
  const history = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as unknown;
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows'), replayName: file }, history as never, file);
}, 120000);
