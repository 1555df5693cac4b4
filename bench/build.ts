// Build benchmark (issue 4): the whole lab catalog, from an empty build engine and registry, in one script run.
//   (a) the original's method: docker build + docker push, one image after the other in topological order (docker CLI)
//   (b) a hand-written parallel script, no Temporal: each image starts when its parent is pushed, same limits as (c)
//   (c) contrail-deploy build, cold
//   (d) contrail-deploy build again, nothing changed
//   (e) contrail-deploy build after one base changed
// Figures are ratios between runs of this same script on this same machine; results go to bench/results/.
// Usage: bash lab/lab.sh up && node bench/run.js build [--base glance]
// It empties the lab's build engine (except the two external bases) and registry: run it on a lab of its own.
import { writeResults } from './write-results';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadPlan } from '../lib/load';
import { PROJECT_ROOT } from '../lib/paths';
import { resolveSecret } from '../lib/secrets';
import type { Plan, PlannedImage } from '../model/plan';
import { Semaphore } from '../model/semaphore';
import { DEFAULT_CONCURRENCY } from '../model/types';
import { cli, labStatus, lastJsonLine, startWorker, type LabStatus } from '../test/helpers/lab';
import { round, timed } from './timing';

const EXTERNAL_BASES = ['busybox:local', 'debian:bookworm-slim'];

interface Phase {
  name: string;
  seconds: number;
  built: number;
  skipped: number;
  detail?: string;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r.stdout;
}

/** Runs a command to the end without holding its output in memory (docker build output is long). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
    child.on('exit', (code) => {
      fs.closeSync(out);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}... failed (${code}): see ${logFile}`));
    });
  });
}

/** The docker CLI as a user of the original would run it, against the lab's build engine, logged in to the registry. */
function dockerCli(lab: LabStatus, work: string): { env: NodeJS.ProcessEnv; docker: (args: string[], log: string) => Promise<void> } {
  const config = path.join(work, 'docker-config');
  fs.mkdirSync(config, { recursive: true });
  const auth = Buffer.from(`${lab.registry.username}:${resolveSecret(lab.registry.passwordSecret)}`).toString('base64');
  fs.writeFileSync(path.join(config, 'config.json'), JSON.stringify({ auths: { [lab.registry.address]: { auth } } }), { mode: 0o600 });
  // The classic builder, as the original used (and as the engine API does for contrail-deploy).
  const env = { DOCKER_HOST: lab.docker.host, DOCKER_CONFIG: config, DOCKER_BUILDKIT: '0' };
  return { env, docker: (args, log) => run('docker', args, env, log) };
}

function buildArgs(image: PlannedImage, tag: string): string[] {
  const from = image.parent ? `${image.repository.replace(/\/[^/]+$/, '')}/${image.parent}:${tag}` : image.base!;
  const args = ['build', '-q', '--network', 'host', '-t', `${image.repository}:${tag}`, '-f', path.join(image.contextDir, image.dockerfile)];
  for (const [k, v] of Object.entries({ ...image.buildArgs, BASE_IMAGE: from })) args.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(image.labels)) args.push('--label', `${k}=${v}`);
  return [...args, image.contextDir];
}

/** (a): one after the other, in the catalog's topological order. */
async function sequential(plan: Plan, cliDocker: ReturnType<typeof dockerCli>, log: string): Promise<void> {
  for (const image of plan.images) {
    await cliDocker.docker(buildArgs(image, 'bench-a'), log);
    await cliDocker.docker(['push', '-q', `${image.repository}:bench-a`], log);
  }
}

/** (b): what a careful engineer writes without an orchestrator: parent-pushed scheduling, the same two limits. */
async function parallel(plan: Plan, cliDocker: ReturnType<typeof dockerCli>, log: string): Promise<void> {
  const limits = plan.concurrency ?? DEFAULT_CONCURRENCY;
  const builds = new Semaphore(limits.builds);
  const pushes = new Semaphore(limits.pushes);
  const pushed = new Map<string, Promise<void>>();
  for (const image of plan.images) {
    const parent = image.parent ? pushed.get(image.parent)! : Promise.resolve();
    pushed.set(image.name, parent.then(async () => {
      await builds.run(() => cliDocker.docker(buildArgs(image, 'bench-b'), log));
      await pushes.run(() => cliDocker.docker(['push', '-q', `${image.repository}:bench-b`], log));
    }));
  }
  await Promise.all(pushed.values());
}

function emptyEngineAndRegistry(lab: LabStatus): void {
  const docker = (args: string[]) => sh('docker', args, { DOCKER_HOST: lab.docker.host });
  const keep = new Set(EXTERNAL_BASES.map((b) => docker(['image', 'inspect', '--format', '{{.Id}}', b]).trim()));
  const ids = [...new Set(docker(['images', '-aq', '--no-trunc']).split('\n').filter(Boolean))].filter((id) => !keep.has(id));
  const containers = docker(['ps', '-aq']).split('\n').filter(Boolean);
  if (containers.length) docker(['rm', '-f', ...containers]);
  for (let i = 0; i < ids.length; i += 50) spawnSync('docker', ['rmi', '-f', ...ids.slice(i, i + 50)], { env: { ...process.env, DOCKER_HOST: lab.docker.host } });
  docker(['builder', 'prune', '-af']);
  const lab_sh = path.join(PROJECT_ROOT, 'lab/lab.sh');
  sh('bash', [lab_sh, 'fault', 'registry', 'down']);
  fs.rmSync(path.join(lab.labDir, 'registry/data'), { recursive: true, force: true });
  fs.mkdirSync(path.join(lab.labDir, 'registry/data'));
  sh('bash', [lab_sh, 'fault', 'registry', 'up']);
}

/** A copy of the images tree and topology/lab.yaml, so that (e) can change one base without touching the checkout. */
function copyProject(work: string, release: string): string {
  fs.cpSync(path.join(PROJECT_ROOT, 'images'), path.join(work, 'images'), { recursive: true });
  fs.mkdirSync(path.join(work, 'topology'));
  // "@lab/" paths name the lab directory wherever the topology file is; the catalog path is relative, so it is the copy's.
  const topology = fs.readFileSync(path.join(PROJECT_ROOT, 'topology/lab.yaml'), 'utf8').replace(/^release: .*$/m, `release: "${release}"`);
  const file = path.join(work, 'topology/lab.yaml');
  fs.writeFileSync(file, topology);
  return file;
}

export async function benchBuild(): Promise<void> {
  const lab = labStatus();
  const changedBase = arg('base', 'glance');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-bench-'));
  const topology = copyProject(work, `bench-${Date.now().toString(36)}`);
  const { plan } = loadPlan(topology);
  const cliDocker = dockerCli(lab, work);
  const log = path.join(work, 'docker-cli.log');
  const phases: Phase[] = [];
  const say = (s: string) => console.log(`[bench] ${s}`);
  say(`${plan.images.length} images; limits ${JSON.stringify(plan.concurrency ?? DEFAULT_CONCURRENCY)}; ${os.cpus().length} cores; work dir ${work}`);

  emptyEngineAndRegistry(lab);
  say('(a) sequential docker build + push ...');
  phases.push({ name: 'a: sequential docker CLI loop (the original)', seconds: (await timed(() => sequential(plan, cliDocker, log))).seconds, built: plan.images.length, skipped: 0 });
  say(`    ${phases[0].seconds.toFixed(1)} s`);

  emptyEngineAndRegistry(lab);
  say('(b) parallel script without Temporal ...');
  phases.push({ name: 'b: parallel script, no Temporal, same limits', seconds: (await timed(() => parallel(plan, cliDocker, log))).seconds, built: plan.images.length, skipped: 0 });
  say(`    ${phases[1].seconds.toFixed(1)} s`);

  emptyEngineAndRegistry(lab);
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `bench-${process.pid}` };
  const worker = await startWorker(env);
  try {
    const build = async (name: string) => {
      const { seconds, value: result } = await timed(() => cli(['build', topology, '--json'], env));
      const summary = lastJsonLine<{ status: string; runId: string; images: { built: number; skipped: number }; buildLogs: Record<string, string> }>(result.stdout);
      if (summary.status !== 'completed') throw new Error(`${name}: the run ended ${summary.status}:\n${result.stdout.slice(-3000)}`);
      phases.push({ name, seconds, built: summary.images.built, skipped: summary.images.skipped, detail: Object.keys(summary.buildLogs).sort().join(' ') });
      say(`    ${seconds.toFixed(1)} s, built ${summary.images.built}, skipped ${summary.images.skipped}`);
      return summary;
    };
    say('(c) contrail-deploy build, cold ...');
    await build('c: contrail-deploy build, cold');
    say('(d) contrail-deploy build, nothing changed ...');
    await build('d: contrail-deploy build, nothing changed');
    say(`(e) contrail-deploy build, base ${changedBase} changed ...`);
    fs.writeFileSync(path.join(work, 'images', changedBase, 'BENCH-CHANGE'), `${Date.now()}\n`);
    await build(`e: contrail-deploy build, ${changedBase} changed`);
  } finally {
    await worker.stop();
  }

  const [a, b, c, d, e] = phases;
  const expected = plan.images.filter((i) => i.name === changedBase || isDescendant(plan, i, changedBase)).map((i) => i.name).sort();
  const rebuilt = (e.detail ?? '').split(' ').filter(Boolean);
  const results = {
    date: new Date().toISOString(),
    machine: { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    images: plan.images.length,
    concurrency: plan.concurrency ?? DEFAULT_CONCURRENCY,
    phases: phases.map((p) => ({ ...p, seconds: Number(p.seconds.toFixed(2)) })),
    ratios: { cOverA: round(c.seconds / a.seconds), cOverB: round(c.seconds / b.seconds) },
    targets: {
      'c <= 0.6 a': c.seconds <= 0.6 * a.seconds,
      'c <= 1.15 b': c.seconds <= 1.15 * b.seconds,
      'd < 3 s with zero builds': d.seconds < 3 && d.built === 0,
      'e rebuilds exactly the base and its subs': JSON.stringify(rebuilt) === JSON.stringify(expected),
    },
    e: { expected, rebuilt },
  };
  const file = writeResults('build', results);
  console.log('\n| run | seconds | built | skipped | ratio |\n|---|---:|---:|---:|---|');
  for (const p of phases) console.log(`| ${p.name} | ${p.seconds.toFixed(1)} | ${p.built} | ${p.skipped} | ${p === c ? `${results.ratios.cOverA} x a, ${results.ratios.cOverB} x b` : ''} |`);
  console.log(`\ntargets: ${JSON.stringify(results.targets)}\nresults: ${path.relative(PROJECT_ROOT, file)}`);
  fs.rmSync(work, { recursive: true, force: true });
}

function isDescendant(plan: Plan, image: PlannedImage, ancestor: string): boolean {
  const byName = new Map(plan.images.map((i) => [i.name, i]));
  for (let p = image.parent; p; p = byName.get(p)?.parent ?? null) if (p === ancestor) return true;
  return false;
}

