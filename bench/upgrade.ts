// Upgrade benchmark (issue 16): a three-member ZooKeeper ensemble across the lab's three hosts plus a single memcached
// (the fixture of test/e2e/upgrade.test.ts), upgraded from one release to the next (images changed by a label):
//   (a) rolling (the default): members one at a time, each after its gate and the ensemble's quorum again
//   (b) recreate (`rollout.upgrade: recreate`, the behaviour before rolling upgrades): every changed container at once
// For each: the run's total time, and the longest stretch in which a probe outside the workflow, asking every member
// every 0.5 s (`srvr`), saw no quorum (a majority in leader or follower mode); target for (a): none beyond a leader
// election. The whole lab stack's upgrade is too heavy for this machine; this is the part that holds a quorum.
// Usage: bash lab/lab.sh up && node bench/run.js upgrade
import * as os from 'os';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/paths';
import type { RunSummary } from '../model/steps';
import type { UpgradeStrategy } from '../model/types';
import { cli, labStatus, lastJsonLine, startWorker, uniqueSuffix } from '../test/helpers/lab';
import { QuorumProbe } from '../test/helpers/quorum-probe';
import { UpgradeFixture } from '../test/helpers/upgrade-fixture';
import { round, timed } from './timing';
import { writeResults } from './write-results';

interface Measured {
  upgrade: UpgradeStrategy;
  seconds: number;
  longestNoQuorumSeconds: number;
  samplesWithoutQuorum: number;
  samples: number;
  containers: RunSummary['containers'];
  runId: string;
}

export async function benchUpgrade(): Promise<void> {
  const lab = labStatus();
  const say = (s: string) => console.log(`[bench] ${s}`);
  const env = { CONTRAIL_TASK_QUEUE_PREFIX: `bench-upgrade-${process.pid}` };
  const fixture = new UpgradeFixture(lab, uniqueSuffix());
  const worker = await startWorker(env);
  const run = async (topology: string): Promise<RunSummary> => {
    const r = await cli(['run', topology, '--json'], env);
    const summary = lastJsonLine<RunSummary>(r.stdout);
    if (summary.status !== 'completed') throw new Error(`run ${topology} ended ${summary.status}:\n${r.stdout.slice(-4000)}`);
    return summary;
  };
  /** One upgrade to `release`, timed, under the probe. The images are built first, so that only the deploy counts. */
  const measure = async (release: string, upgrade: UpgradeStrategy): Promise<Measured> => {
    const topology = fixture.release(release, { upgrade });
    const built = await cli(['build', topology, '--json'], env);
    if (built.code !== 0) throw new Error(`build of release ${release} failed:\n${built.stdout.slice(-4000)}`);
    const probe = new QuorumProbe(fixture.members.map((h) => h.address));
    probe.start();
    const t = await timed(() => run(topology));
    probe.stop();
    const m = {
      upgrade, seconds: round(t.seconds), longestNoQuorumSeconds: round(probe.longestGapMs() / 1000),
      samplesWithoutQuorum: probe.losses().length, samples: probe.samples.length, containers: t.value.containers, runId: t.value.runId,
    };
    say(`    ${m.seconds} s; longest without quorum ${m.longestNoQuorumSeconds} s (${m.samplesWithoutQuorum} of ${m.samples} samples); ${JSON.stringify(m.containers)}`);
    return m;
  };
  try {
    fixture.cleanUp();
    say(`${fixture.members.length}-member ZooKeeper + a single memcached on ${fixture.members.length} hosts; ${os.cpus().length} cores`);
    say('release 1, first deploy (not measured) ...');
    await run(fixture.release('1'));
    say('(a) rolling upgrade to release 2 ...');
    const rolling = await measure('2', 'rolling');
    say('(b) recreate-all-at-once upgrade to release 3 ...');
    const recreate = await measure('3', 'recreate');
    const rows = [rolling, recreate];
    const results = {
      date: new Date().toISOString(),
      machine: { cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
      topology: 'ZooKeeper x3 (one per host) + memcached x1',
      probeEverySeconds: 0.5,
      rows,
    };
    const file = writeResults('upgrade', results);
    console.log('\n| upgrade | total (s) | longest without quorum (s) | samples without quorum |\n|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.upgrade} | ${r.seconds} | ${r.longestNoQuorumSeconds} | ${r.samplesWithoutQuorum} of ${r.samples} |`);
    console.log(`results: ${path.relative(PROJECT_ROOT, file)}`);
  } finally {
    await worker.stop();
    fixture.cleanUp();
  }
}
