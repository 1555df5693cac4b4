// Bad input on the real lab: an image whose Maven artifact does not exist. Its build fails at once (Maven Central
// says there is no such artifact: no retry), naming the artifact; only its own subtree is blocked, and a sibling on the
// same jre parent is built and pushed. The catalog is our own (unique names) on copies of the real base and jre
// contexts, so those two are found in the registry by input hash and not built again.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../../lib/paths';
import type { RunSummary, Step } from '../../model/steps';
import { scratchDir } from '../helpers/files';
import { activityAttempts, runHistories } from '../helpers/history';
import { cli, labStatus, labTopology, lastJsonLine, startWorker, uniqueSuffix, type LabStatus, type WorkerProcess } from '../helpers/lab';

jest.setTimeout(20 * 60 * 1000);

const suffix = uniqueSuffix();
const env = { CONTRAIL_TASK_QUEUE_PREFIX: `mvn-${suffix}` };
const names = { missing: `mvn${suffix}-missing`, child: `mvn${suffix}-missing-child`, sibling: `mvn${suffix}-ok` };
// A real group and artifact, a version that was never released.
const ARTIFACT = 'org.apache.cassandra:cassandra-all:3.11.99';
let lab: LabStatus;
let worker: WorkerProcess;

type Summary = RunSummary & { parked: { id: string }[] };

function writeProject(): string {
  const image = (name: string, parent: string) => `  - { name: ${name}, parent: ${parent}, labels: { net.juniper.contrail: common } }`;
  const dockerfile = (parent: string, run: string) => `ARG BASE_IMAGE=${parent}\nFROM \${BASE_IMAGE}\nRUN ${run}\n`;
  const dir = scratchDir({
    'catalog.yaml': `images:
  - { name: base, base: "debian:bookworm-slim" }
  - { name: jre, parent: base }
${image(names.missing, 'jre')}
${image(names.child, names.missing)}
${image(names.sibling, 'jre')}
`,
    [`${names.missing}/Dockerfile`]: dockerfile('jre', `maven-fetch /opt/lib ${ARTIFACT}`),
    [`${names.child}/Dockerfile`]: dockerfile(names.missing, 'echo never'),
    [`${names.sibling}/Dockerfile`]: dockerfile('jre', 'echo ok > /ok'),
  });
  for (const context of ['base', 'jre']) fs.cpSync(path.join(PROJECT_ROOT, 'images', context), path.join(dir, context), { recursive: true });
  const topology = path.join(dir, 'maven.yaml');
  fs.writeFileSync(topology, labTopology(lab, {
    name: `mvn${suffix}`, release: `mvn-${suffix}`, catalog: path.join(dir, 'catalog.yaml'),
    services: `  - { name: svc, image: ${names.child}, stage: common, roles: [controller] }
  - { name: svc2, image: ${names.sibling}, stage: common, roles: [controller] }`,
  }));
  return topology;
}

beforeAll(async () => {
  lab = labStatus();
  worker = await startWorker(env);
});
afterAll(async () => {
  await worker?.stop();
});

test('a Maven artifact that does not exist fails its image at once, naming the artifact; only its subtree is blocked', async () => {
  const parked = await cli(['build', writeProject(), '--json'], env);
  expect(parked.code).toBe(3);
  const runId = lastJsonLine<Summary>(parked.stdout).runId;
  expect(lastJsonLine<Summary>(parked.stdout).parked.map((p) => p.id)).toEqual([`build:${names.missing}`]);

  const aborted = await cli(['abort', runId, '--json'], env);
  const summary = lastJsonLine<Summary>(aborted.stdout);
  expect(summary.failedStep?.id).toBe(`build:${names.missing}`);
  expect(summary.failedStep?.message).toContain(`build of ${names.missing} failed: Maven artifact org.apache.cassandra:cassandra-all:jar:3.11.99 does not exist in Maven Central. Fix its group, artifact or version`);
  expect(summary.images).toMatchObject({ failed: 1, blocked: 1 });
  // One attempt: the repository's answer is final, not a transient error.
  const attempts = activityAttempts(runHistories(runId)).filter((a) => a.type === 'buildImage' && (a.input as { image: { name: string } }).image.name === names.missing);
  expect(attempts.map((a) => a.attempt)).toEqual([1]);
  // Its child is blocked; the sibling on the same parent was built and pushed.
  const steps = lastJsonLine<{ steps: Step[] }>((await cli(['status', runId, '--json'], env)).stdout).steps;
  expect(steps.find((s) => s.id === `build:${names.child}`)).toMatchObject({ status: 'blocked', detail: `parent ${names.missing} failed` });
  expect(steps.find((s) => s.id === `push:${names.sibling}`)?.status).toBe('completed');
  expect(summary.digests[names.sibling]).toMatch(/@sha256:/);
});
