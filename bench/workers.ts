// Build workers benchmark (issue 14): the whole lab catalog built cold (--no-cache: no registry skip, no layer cache)
// against the lab's Temporal cluster, (1) by one build worker beside the lab's build engine, then (2) by two build
// workers, the second beside the second build host's engine (namespace cdlab-build2). Same run limits in both
// (--builds N, default 4), the workflow on one deploy worker. Nothing shared is emptied: each phase has its own release.
// Usage: bash lab/lab.sh up --temporal cluster && node bench/run.js workers [--builds 4]
// Long (two cold builds of the whole tree: about 20 minutes on 2 cores); not part of CI.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadPlan } from '../lib/load';
import { PROJECT_ROOT } from '../lib/paths';
import { cli, labStatus, lastJsonLine } from '../test/helpers/lab';
import { clusterClientEnv, ensureCluster } from '../test/helpers/temporal';
import { ensureWorkerHosts, startClusterWorker, type ClusterWorker } from '../test/helpers/cluster-workers';
import { round, timed } from './timing';
import { writeResults } from './write-results';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

/** CPU time used by the whole machine over a phase (from /proc/stat): how busy the two cores were. */
function cpuTicks(): { busy: number; total: number } {
  const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const n = fields.map(Number);
  const idle = n[3] + n[4];
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export async function benchWorkers(): Promise<void> {
  ensureCluster();
  const lab = labStatus();
  const hosts = ensureWorkerHosts();
  const builds = arg('builds', '4');
  const say = (s: string) => console.log(`[bench] ${s}`);
  const base: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('TEMPORAL_') || k === 'CONTRAIL_DOCKER_HOST' || k === 'DOCKER_HOST') delete base[k];
  const env: NodeJS.ProcessEnv = { ...base, ...clusterClientEnv(), CONTRAIL_TASK_QUEUE_PREFIX: `benchw-${process.pid}` };
  const topologyText = fs.readFileSync(path.join(PROJECT_ROOT, 'topology/lab.yaml'), 'utf8');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-bench-workers-'));
  const images = loadPlan(path.join(PROJECT_ROOT, 'topology/lab.yaml')).plan.images.length;
  say(`${images} images, --builds ${builds}, ${os.cpus().length} cores, against the cluster at ${env.TEMPORAL_ADDRESS}`);

  const started: ClusterWorker[] = [];
  const worker = async (args: string[], extra: NodeJS.ProcessEnv, netns?: string) => {
    const w = await startClusterWorker(args, { ...env, ...extra }, netns);
    started.push(w);
    return w;
  };
  const phases: { name: string; seconds: number; built: number; cpuBusy: number }[] = [];
  try {
    await worker(['--queues', 'deploy'], {});
    await worker(['--queues', 'build'], { CONTRAIL_DOCKER_HOST: lab.docker.host });
    const phase = async (name: string) => {
      const release = `benchw-${Date.now().toString(36)}`;
      const file = path.join(work, `${release}.yaml`);
      // The checkout's catalog, under a release of this phase's own.
      fs.writeFileSync(file, topologyText.replace(/^release: .*$/m, `release: "${release}"`).replace(/^catalog: (?!\/)(.*)$/m, `catalog: ${path.join(PROJECT_ROOT, 'topology')}/$1`));
      say(`${name} ...`);
      const cpu0 = cpuTicks();
      const { seconds, value: r } = await timed(() => cli(['build', file, '--json', '--no-cache', '--builds', builds], env));
      const cpu1 = cpuTicks();
      const summary = lastJsonLine<{ status: string; runId: string; images: { built: number } }>(r.stdout);
      if (summary.status !== 'completed') throw new Error(`${name}: the run ended ${summary.status}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
      const cpuBusy = round((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total));
      phases.push({ name, seconds, built: summary.images.built, cpuBusy });
      say(`    ${seconds.toFixed(1)} s, built ${summary.images.built}, CPU busy ${Math.round(cpuBusy * 100)} %`);
    };
    await phase('1 build worker (the build engine)');
    await worker(['--queues', 'build'], { TEMPORAL_ADDRESS: hosts.frontendRelay.address, CONTRAIL_DOCKER_HOST: hosts.build2.dockerHost, CONTRAIL_BUILD_PROXY: hosts.build2.buildProxy }, hosts.build2.namespace);
    await phase('2 build workers (the build engine + build2)');
  } finally {
    for (const w of started) await w.stop();
  }
  const [one, two] = phases;
  const results = {
    date: new Date().toISOString(),
    machine: { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), loadAverageAtStart: os.loadavg()[0] },
    images,
    builds: Number(builds),
    temporal: 'cluster (mutual TLS)',
    phases: phases.map((p) => ({ name: p.name, seconds: round(p.seconds), built: p.built, cpuBusy: p.cpuBusy })),
    ratio: { twoOverOne: round(two.seconds / one.seconds) },
  };
  const out = writeResults('workers', results);
  console.log('\n| build workers | seconds | built | CPU busy |\n|---|---:|---:|---:|');
  for (const p of phases) console.log(`| ${p.name} | ${p.seconds.toFixed(1)} | ${p.built} | ${Math.round(p.cpuBusy * 100)} % |`);
  console.log(`\ntwo / one: ${results.ratio.twoOverOne}\nresults: ${path.relative(PROJECT_ROOT, out)}`);
  fs.rmSync(work, { recursive: true, force: true });
}
