// Image tree benchmark (issue 17): the whole lab catalog built cold (--no-cache: no registry skip, no layer cache) by
// contrail-deploy, first today's tree (HEAD, in a git worktree under /tmp), then the new one (a copy of this checkout's
// images/ and topology/), in one run with the same limits. For each tree: seconds, the bytes the registry holds for all
// of its images (each layer and config blob once, as the registry stores them) and every image's size on the build
// engine. Targets: the new tree builds in at most 0.7 x the time, and its unique registry bytes are at most 0.6 x.
// Then the lab stack is deployed cold with each tree's images (hosts emptied first; --no-deploy leaves it out).
// Nothing shared is emptied: each tree has its own release; both push to the lab registry's usual repositories.
// Usage: bash lab/lab.sh up && flock -o /tmp/contrail-e2e.lock node bench/run.js image-tree [--base REV]
// Long (two cold builds of the whole tree: about 25 minutes on 2 cores); not part of CI.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadPlan } from '../lib/load';
import { PROJECT_ROOT } from '../lib/paths';
import { DEFAULT_CONCURRENCY } from '../model/types';
import type { RunSummary } from '../model/steps';
import { cli, labStatus, lastJsonLine, registryGet, secret, startWorker, type LabStatus } from '../test/helpers/lab';
import { emptyHosts } from './deploy';
import { writeResults } from './write-results';
import { round, timed } from './timing';

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

interface TreeResult {
  tree: string;
  images: number;
  seconds: number;
  registryBytes: number;
  imageBytes: Record<string, number>;
  /** Steps that failed or parked (an image that did not build blocks its subtree): empty on a clean run. */
  failed: string[];
  /** Cold deploy of the lab stack with this tree's images, from hosts without containers or images. */
  deploy?: { seconds: number; status: string; containers: RunSummary['containers'] };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

function git(args: string[]): string {
  const r = spawnSync('git', ['-C', PROJECT_ROOT, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** A topology for one tree: that tree's topology/lab.yaml under a release of its own, its catalog by absolute path. */
function treeTopology(treeRoot: string, work: string, release: string): string {
  const text = fs.readFileSync(path.join(treeRoot, 'topology/lab.yaml'), 'utf8')
    .replace(/^release: .*$/m, `release: "${release}"`)
    .replace(/^catalog: .*$/m, `catalog: ${path.join(treeRoot, 'images/catalog.yaml')}`);
  const file = path.join(work, `${release}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

/** The bytes the registry stores for these images: every blob (config and layers) counted once. */
async function uniqueRegistryBytes(lab: LabStatus, digests: Record<string, string>): Promise<number> {
  const auth = { user: lab.registry.username, password: secret(lab, lab.registry.passwordSecret) };
  const blobs = new Map<string, number>();
  for (const ref of Object.values(digests)) {
    const [repository, digest] = ref.slice(lab.registry.address.length + 1).split('@');
    const r = await registryGet(lab, `/v2/${repository}/manifests/${digest}`, auth, MANIFEST);
    if (r.status !== 200) throw new Error(`manifest ${ref}: the registry answered HTTP ${r.status}`);
    const manifest = JSON.parse(r.body) as { config: { digest: string; size: number }; layers: { digest: string; size: number }[] };
    for (const blob of [manifest.config, ...manifest.layers]) blobs.set(blob.digest, blob.size);
  }
  return [...blobs.values()].reduce((a, b) => a + b, 0);
}

/** Each image's size on the build engine (uncompressed, with its parents' layers), as `docker image ls` shows it. */
function imageSizes(lab: LabStatus, summary: RunSummary): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const [name, ref] of Object.entries(summary.digests).sort(([a], [b]) => a.localeCompare(b))) {
    const tag = `${ref.split('@')[0]}:${summary.release}`;
    const r = spawnSync('docker', ['image', 'inspect', '--format', '{{.Size}}', tag], { encoding: 'utf8', env: { ...process.env, DOCKER_HOST: lab.docker.host } });
    sizes[name] = r.status === 0 ? Number(r.stdout.trim()) : NaN;
  }
  return sizes;
}

async function buildTree(lab: LabStatus, tree: string, topology: string, limits: string[], env: NodeJS.ProcessEnv): Promise<TreeResult> {
  console.log(`[bench] ${tree}: contrail-deploy build --no-cache ${limits.join(' ')} ...`);
  const { seconds, value: summary } = await timed(() => runToEnd(['build', topology, '--json', '--no-cache', ...limits], env));
  // A failed image (and its blocked subtree) is reported, not fatal: the figures then cover the images that were built.
  // `build --json` prints the first failed step (failedStep), not the summary's full list.
  const failed = [
    ...(summary.failedStep ? [`${summary.failedStep.id}: ${summary.failedStep.message.split('\n')[0]}`] : []),
    ...(summary.parked ?? []).map((p) => `${p.id} (parked): ${p.error.split('\n')[0]}`),
  ];
  if (summary.status !== 'completed') console.log(`[bench]     the build ended ${summary.status}:\n  ${failed.join('\n  ')}`);
  const registryBytes = await uniqueRegistryBytes(lab, summary.digests);
  console.log(`[bench]     ${seconds.toFixed(1)} s, ${summary.images.built} built, ${(registryBytes / 1e6).toFixed(0)} MB in the registry`);
  return { tree, images: Object.keys(summary.digests).length, seconds, registryBytes, imageBytes: imageSizes(lab, summary), failed };
}

/** A build or run to its end; a parked one would wait for an operator until its park timeout, so the bench aborts it
 *  (none is left behind) and reports it as parked. */
async function runToEnd(args: string[], env: NodeJS.ProcessEnv): Promise<RunSummary> {
  const summary = lastJsonLine<RunSummary>((await cli(args, env)).stdout);
  if (summary.status === 'parked') await cli(['abort', summary.runId], env);
  return summary;
}

/** The lab stack deployed cold with one tree's images (already in the registry; the hosts pull them). */
async function deployTree(lab: LabStatus, t: TreeResult, topology: string, env: NodeJS.ProcessEnv): Promise<void> {
  emptyHosts(lab);
  console.log(`[bench] ${t.tree}: contrail-deploy run, cold (hosts without containers or images) ...`);
  const { seconds, value: summary } = await timed(() => runToEnd(['run', topology, '--json'], env));
  t.deploy = { seconds: round(seconds), status: summary.status, containers: summary.containers };
  console.log(`[bench]     ${seconds.toFixed(1)} s, ${summary.status}, ${JSON.stringify(summary.containers)}`);
}

const mb = (bytes: number) => (Number.isFinite(bytes) ? (bytes / 1e6).toFixed(0) : '-');

export async function benchImageTree(): Promise<void> {
  const lab = labStatus();
  const base = arg('base', 'HEAD');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-bench-tree-'));
  const oldRoot = path.join(work, 'old');
  const newRoot = path.join(work, 'new');
  const stamp = Date.now().toString(36);
  git(['worktree', 'add', '--detach', oldRoot, base]);
  // The new tree as it is now, copied, so that edits made while the bench runs do not reach its builds.
  for (const dir of ['images', 'topology']) fs.cpSync(path.join(PROJECT_ROOT, dir), path.join(newRoot, dir), { recursive: true });
  const { plan } = loadPlan(path.join(newRoot, 'topology/lab.yaml'));
  const concurrency = plan.concurrency ?? DEFAULT_CONCURRENCY;
  const limits = ['--builds', String(concurrency.builds), '--pushes', String(concurrency.pushes)];
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `bench-tree-${process.pid}` };
  console.log(`[bench] today's tree ${git(['rev-parse', '--short', base])} against this checkout's; ${os.cpus().length} cores; work dir ${work}`);
  const worker = await startWorker(env);
  const results: TreeResult[] = [];
  const topologies = [treeTopology(oldRoot, work, `bench-tree-old-${stamp}`), treeTopology(newRoot, work, `bench-tree-new-${stamp}`)];
  try {
    results.push(await buildTree(lab, `today (${base})`, topologies[0], limits, env));
    results.push(await buildTree(lab, 'new', topologies[1], limits, env));
    if (!process.argv.includes('--no-deploy')) {
      for (const [i, t] of results.entries()) await deployTree(lab, t, topologies[i], env);
      await cli(['down', topologies[1]], env);
    }
  } finally {
    await worker.stop();
    git(['worktree', 'remove', '--force', oldRoot]);
  }
  const [today, next] = results;
  const ratios = {
    seconds: round(next.seconds / today.seconds),
    registryBytes: round(next.registryBytes / today.registryBytes),
    ...(today.deploy && next.deploy ? { coldDeploySeconds: round(next.deploy.seconds / today.deploy.seconds) } : {}),
  };
  const file = writeResults('image-tree', {
    date: new Date().toISOString(),
    machine: { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    concurrency,
    trees: results.map((t) => ({ ...t, seconds: round(t.seconds) })),
    ratios,
    targets: { 'new seconds <= 0.7 x today': ratios.seconds <= 0.7, 'new unique registry bytes <= 0.6 x today': ratios.registryBytes <= 0.6 },
  });
  console.log('\n| tree | images | build seconds | unique registry MB | cold deploy seconds |\n|---|---:|---:|---:|---:|');
  for (const t of results) console.log(`| ${t.tree} | ${t.images} | ${t.seconds.toFixed(1)} | ${mb(t.registryBytes)} | ${t.deploy ? `${t.deploy.seconds} (${t.deploy.status})` : '-'} |`);
  console.log(`| new / today | | ${ratios.seconds} | ${ratios.registryBytes} | ${ratios.coldDeploySeconds ?? '-'} |`);
  console.log('\n| image | today MB | new MB |\n|---|---:|---:|');
  const names = [...new Set([...Object.keys(today.imageBytes), ...Object.keys(next.imageBytes)])].sort();
  for (const n of names) console.log(`| ${n} | ${mb(today.imageBytes[n] ?? NaN)} | ${mb(next.imageBytes[n] ?? NaN)} |`);
  console.log(`\nresults: ${path.relative(PROJECT_ROOT, file)}`);
  fs.rmSync(work, { recursive: true, force: true });
}
