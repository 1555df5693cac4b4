// `contrail-deploy plan`: what a run would do, without doing anything.
import * as path from 'path';
import { readUserFile, loadCatalog, loadPlan } from '../lib/load';
import { ConfigError } from '../model/config-error';
import { isLegacyBuildFile, parseLegacyBuildFile } from '../model/legacy';
import { hostCount, hostParts, partLabel, partWorkflowId } from '../model/parts';
import type { Plan } from '../model/plan';
import { selectImages, type Selection } from '../model/selection';
import { renderUpgradeOrder } from '../model/upgrade-order';
import { buildLevels } from '../model/catalog';
import type { Catalog, SecretRef } from '../model/types';
import type { Command } from './command';
import { SELECTION_HELP, SELECTION_OPTIONS, selectionFrom } from './selection-options';
import { UsageError, onePositional } from './usage';

export const planCommand: Command = {
  name: 'plan',
  summary: 'show the build graph, host preparation and bring-up stages of a topology, or plan a catalog or build file',
  usage: `Usage: contrail-deploy plan <topology.yaml> [--json] [--images ...] [--filter label=K=V] [--against-hosts]
       contrail-deploy plan --catalog <catalog.yaml | original build file> [--json] [--images ...] [--filter ...]

  No side effects. Shows the build graph (levels: images on one level may build in parallel; each starts as soon as
  its own parent is pushed), the selection, the preparation of each host, and each stage's containers with host,
  image, environment (secret values never shown: only their names), volumes and privileges.
  --catalog also reads the original project's build files (scripts/structure.yaml of 2015 and 2016).
${SELECTION_HELP}
  --json   one JSON object: {release, images: [{name, parent, level, labels, selected}], hosts, stages: [{name, services}]}
  --against-hosts  reads (changes nothing) the hosts and the registry, then shows what a run would change, stage by
           stage: containers created, replaced (in turn: a cluster's members one at a time, other services
           rollout.maxUnavailable at once, a single instance in place) or recreated, and why (another digest, another
           spec, an image built anew because its inputs changed); --json adds {againstHosts: {rolling, services:
           [{stage, part, service, instances, cluster, atOnce, changes: [{container, host, action, why}]}], unchanged,
           orphans, unasked: [host errors]}}`,
  options: { json: { type: 'boolean' }, catalog: { type: 'string' }, 'against-hosts': { type: 'boolean' }, ...SELECTION_OPTIONS },
  async run({ values, positionals }) {
    const selection = selectionFrom(values);
    if (values.catalog !== undefined) {
      if (positionals.length) throw new UsageError('give either a topology or --catalog, not both');
      if (values['against-hosts']) throw new UsageError('--against-hosts needs a topology (its hosts), not --catalog');
      const { catalog, release } = readAnyCatalog(String(values.catalog));
      const view = planView(release, catalog, selection, null);
      print(view, Boolean(values.json));
      return 0;
    }
    const { topology, plan } = loadPlan(onePositional(positionals, 'topology file'));
    const view = planView(topology.release, topology.catalog, selection, plan);
    if (!values['against-hosts']) {
      print(view, Boolean(values.json));
      return 0;
    }
    if (plan.simulate) throw new UsageError(`${plan.topologyFile} is a simulated topology (simulate:): its hosts do not exist, so there is nothing to compare`);
    const { againstHosts } = await import('./diff');
    const { order, report } = await againstHosts(plan);
    const unasked = report.hosts.flatMap((h) => (h.error ? [h.error] : []));
    if (values.json) console.log(JSON.stringify({ ...view, againstHosts: { ...order, unasked } }));
    else {
      print(view, false);
      console.log(['', ...renderUpgradeOrder(order, plan), ...unasked.map((e) => `  not asked: ${e}`)].join('\n'));
    }
    return unasked.length ? 1 : 0;
  },
};

/** Our catalog format, or one of the original's build files. */
export function readAnyCatalog(file: string): { catalog: Catalog; release: string } {
  const abs = path.resolve(file);
  const text = readUserFile(abs, 'catalog');
  if (isLegacyBuildFile(text)) {
    const legacy = parseLegacyBuildFile(abs, text);
    return { catalog: legacy, release: legacy.release };
  }
  return { catalog: loadCatalog(abs), release: '' };
}

interface PlanView {
  release: string;
  topology: string | null;
  images: { name: string; parent: string | null; level: number; labels: Record<string, string>; selected: boolean; reason?: string; standin: string | null }[];
  levels: string[][];
  hosts: Plan['hosts'];
  limits: { concurrency: Plan['concurrency']; rollout: Plan['rollout'] } | null;
  /** How a run splits into parts (child workflows): per stage batch, its host groups, and how many hosts each brings up at once. */
  parts: { id: string; label: string; hosts: number; atOnce: number }[];
  stages: { name: string; services: { name: string; host: string; image: string; env: Record<string, string>; volumes: string[]; privileged: boolean; capAdd: string[]; standin: string | null; quorum: boolean }[] }[];
}

function planView(release: string, catalog: Catalog, selection: Selection, plan: Plan | null): PlanView {
  const { selected, unknown } = selectImages(catalog.images, selection);
  if (unknown.length) {
    throw new ConfigError([{ file: catalog.file, field: '--images', message: `no image named ${unknown.join(', ')}`, hint: `images: ${catalog.images.map((i) => i.name).join(', ')}` }]);
  }
  const reason = new Map(selected.map((s) => [s.name, s.reason]));
  const levels = buildLevels(catalog.images);
  const images = levels.map(({ image, level }) => ({ name: image.name, parent: image.parent, level, labels: image.labels, selected: reason.has(image.name), reason: reason.get(image.name), standin: image.standin }));
  const byLevel: string[][] = [];
  for (const i of images.filter((x) => x.selected)) (byLevel[i.level] ??= []).push(i.name);
  return {
    release,
    topology: plan?.topology ?? null,
    images,
    levels: byLevel.filter(Boolean),
    hosts: plan?.hosts ?? [],
    limits: plan ? { concurrency: plan.concurrency, rollout: plan.rollout } : null,
    parts: plan ? [
      ...(plan.images.length ? [{ id: partWorkflowId('<run>', 'images'), label: `the image tree (${plan.images.length} images)`, hosts: 0, atOnce: 0 }] : []),
      ...hostParts(plan).flat(2).filter((p) => p.hosts.length).map((p) => ({ id: partWorkflowId('<run>', p), label: partLabel(p), hosts: p.hosts.length, atOnce: Math.min(p.slots, p.hosts.length) })),
    ] : [],
    stages: (plan?.stages ?? []).map((s) => ({
      name: s.name,
      services: s.containers.map((c) => ({ name: c.name, host: c.host, image: c.image, env: maskEnv(c.env), volumes: c.volumes, privileged: c.privileged, capAdd: c.capAdd, standin: c.standin, quorum: Boolean(c.quorum) })),
    })),
  };
}

function maskEnv(env: Record<string, string | SecretRef>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === 'string' ? v : `<secret ${v.secret}>`]));
}

function print(view: PlanView, json: boolean): void {
  if (json) {
    console.log(JSON.stringify(view));
    return;
  }
  const selected = view.images.filter((i) => i.selected);
  console.log(`${view.topology ? `topology ${view.topology}, ` : ''}release ${view.release || '(none)'}: ${selected.length} of ${view.images.length} images selected`);
  console.log('\nBuild graph (one level may build in parallel; each image starts when its own parent is pushed):');
  view.levels.forEach((names, level) => console.log(`  level ${level}: ${names.map((n) => `${n}${view.images.find((i) => i.name === n)?.reason === 'ancestor' ? ' (ancestor)' : ''}`).join(', ')}`));
  if (view.limits) console.log(`\nLimits: ${view.limits.concurrency.builds} builds, ${view.limits.concurrency.pushes} pushes, ${view.limits.concurrency.hosts} hosts at a time; compute hosts: ${view.limits.rollout.computeCanary} canary, then ${view.limits.rollout.computeBatchPercent}% at a time`);
  if (view.parts.length) {
    console.log(`\nParts (each a child workflow under the run; the parts of one batch together bring up at most ${view.limits?.concurrency.hosts} hosts at once):`);
    for (const p of view.parts) console.log(`  ${p.id.padEnd(48)} ${p.label}${p.hosts ? `: ${hostCount(p.hosts)}, ${p.atOnce} at once` : ''}`);
  }
  if (view.hosts.length) {
    console.log('\nHost preparation:');
    for (const h of view.hosts) {
      const dirs = h.directories.map((d) => `${d.path} (${d.mode} ${d.owner ?? 'owner kept'})`).join(', ') || 'none';
      console.log(`  ${h.name} (${h.address}; ${h.roles.join(', ')}): directories ${dirs}; kernel modules ${h.kernelModules.join(', ') || 'none'}`);
    }
  }
  if (view.stages.length) {
    console.log('\nBring-up, stage by stage (a stage starts when every container of the previous ones is healthy, and each\nclustered service has a quorum: a majority of its members healthy and in the cluster):');
    for (const stage of view.stages) {
      console.log(`  ${stage.name}:${stage.services.length ? '' : ' (nothing)'}`);
      for (const s of stage.services) {
        const flags = [s.privileged ? 'privileged' : '', s.capAdd.length ? `cap_add ${s.capAdd.join(',')}` : '', s.standin ? 'STAND-IN' : '', s.quorum ? 'clustered: quorum gate' : ''].filter(Boolean).join(', ');
        console.log(`    ${s.name} on ${s.host}: image ${s.image}${flags ? ` [${flags}]` : ''}`);
        const env = Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ');
        if (env) console.log(`      env ${env}`);
        if (s.volumes.length) console.log(`      volumes ${s.volumes.join(' ')}`);
      }
    }
  }
}
