// `contrail-deploy rollback <topology> --to <release>`: deploys the digests that an earlier release tag points at in the
// registry, with the rolling rules of any run (a cluster's members one at a time, the old container kept until the new
// one passes). Nothing is built: the run's plan has no images, only those digests.
import { ConfigError } from '../model/config-error';
import type { Plan } from '../model/plan';
import { loadPlan } from '../lib/load';
import { SEARCH_ATTRIBUTES } from '../model/shared';
import { connectClient } from '../lib/temporal';
import type { Command } from './command';
import { historyQuery } from './history';
import { startAndFollow } from './run';
import { onePositional, UsageError } from './usage';

/** Tags the pipeline pushes under each image's input hash; every other tag is a release. */
const INPUT_HASH_TAG = /^input-/;

export const rollbackCommand: Command = {
  name: 'rollback',
  summary: 'deploy an earlier release again, from the digests its release tag points at; nothing is built (rollback <topology> --to <release>)',
  usage: `Usage: contrail-deploy rollback <topology.yaml> --to <release> [--json] [--with-worker] [--initiator NAME]

  Looks up, in the topology's registry, the digest that the release tag <release> points at for every image the
  topology runs, and deploys those digests with the rolling rules of a run: members of a cluster one at a time, each
  after the one before passed its gate and the cluster has quorum again; the replaced container is kept until its
  replacement passes, and started again if it fails. No image is built or pushed, and no release tag moves: the
  tags of earlier releases stay. "history" shows the run as a rollback, from the release the last completed run
  deployed to <release>. An unknown release lists the releases the registry has (exit 2). Output and exit codes as
  with "run".`,
  options: { to: { type: 'string' }, json: { type: 'boolean' }, 'with-worker': { type: 'boolean' }, initiator: { type: 'string' } },
  async run({ values, positionals }) {
    const file = onePositional(positionals, 'topology file');
    const to = values.to as string | undefined;
    if (!to) throw new UsageError('--to <release> is required: the release tag to go back to (contrail-deploy history lists the releases deployed)');
    const { plan } = loadPlan(file);
    const digests = await releaseDigests(plan, to);
    const from = await deployedRelease(plan.topology);
    return startAndFollow({ ...plan, release: to, images: [] }, values, undefined, { ...(from ? { from } : {}), to, digests });
  },
};

/** repository@digest of each image the topology runs, as the release tag points at it; an unknown release is refused
 *  (exit 2) naming the releases every one of those images has. */
async function releaseDigests(plan: Plan, release: string): Promise<Record<string, string>> {
  const { RegistryClient } = await import('../lib/registry');
  const registry = new RegistryClient(plan.registry);
  const used = [...new Set(plan.stages.flatMap((s) => s.containers.map((c) => c.image)))];
  const repository = (image: string) => plan.images.find((i) => i.name === image)?.repository ?? `${plan.registry.address}/${image}`;
  const found = await Promise.all(used.map(async (image) => [image, await registry.digestOf(repository(image), release, `release tag ${release} of ${image}`)] as const));
  const missing = found.filter(([, digest]) => !digest).map(([image]) => image);
  if (missing.length) {
    const tagsPerImage = await Promise.all(used.map(async (image) => new Set(await registry.tags(repository(image), `tags of ${image}`))));
    const releases = [...tagsPerImage[0]].filter((t) => !INPUT_HASH_TAG.test(t) && tagsPerImage.every((tags) => tags.has(t))).sort();
    throw new ConfigError([{
      file: plan.topologyFile, field: 'rollback --to',
      message: `release "${release}" is not in the registry ${plan.registry.address} for ${missing.join(', ')}; releases it has for every image of ${plan.topology}: ${releases.join(', ') || 'none'}`,
    }]);
  }
  return Object.fromEntries(found.map(([image, digest]) => [image, `${repository(image)}@${digest}`]));
}

/** The release the newest completed run of the topology deployed: what the rollback leaves. */
async function deployedRelease(topology: string): Promise<string | undefined> {
  const client = await connectClient();
  const query = historyQuery({ topology, status: 'completed' });
  for await (const wf of client.workflow.list({ query, pageSize: 1 })) {
    const release = wf.typedSearchAttributes.get(SEARCH_ATTRIBUTES.release);
    if (typeof release === 'string') return release;
  }
  return undefined;
}
