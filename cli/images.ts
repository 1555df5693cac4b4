// `contrail-deploy images`: the catalog's images with their labels, like the guide's `docker images --filter`.
import { loadTopology, readUserFile } from '../lib/load';
import { matchesFilters } from '../model/selection';
import type { Command } from './command';
import { readAnyCatalog } from './plan';
import { selectionFrom } from './selection-options';
import { onePositional } from './usage';

export const imagesCommand: Command = {
  name: 'images',
  summary: 'list catalog images and their labels (--filter label=K=V, as the guide used docker images)',
  usage: `Usage: contrail-deploy images <topology.yaml | catalog.yaml> [--filter label=KEY[=VALUE]]... [--json]

  Lists the images of the topology's catalog (or of a catalog file) that carry every given label,
  e.g. --filter label=net.juniper.contrail=analytics, or --filter label=net.juniper.node=compute.`,
  options: { json: { type: 'boolean' }, filter: { type: 'string', multiple: true } },
  async run({ values, positionals }) {
    const file = onePositional(positionals, 'topology or catalog file');
    const { filters } = selectionFrom(values);
    // A topology names its catalog; anything else is a catalog (ours or an original build file).
    const catalog = /^catalog\s*:/m.test(readUserFile(file, 'topology or catalog')) ? loadTopology(file).catalog : readAnyCatalog(file).catalog;
    const images = catalog.images.filter((i) => matchesFilters(i, filters));
    if (values.json) {
      console.log(JSON.stringify(images.map((i) => ({ name: i.name, parent: i.parent, labels: i.labels, standin: i.standin }))));
      return 0;
    }
    const width = Math.max(5, ...images.map((i) => i.name.length));
    console.log(`${'IMAGE'.padEnd(width)}  ${'PARENT'.padEnd(14)}  LABELS`);
    for (const i of images) {
      const labels = Object.entries(i.labels).map(([k, v]) => `${k}=${v}`).join(' ');
      console.log(`${i.name.padEnd(width)}  ${(i.parent ?? i.base ?? '').padEnd(14)}  ${labels}${i.standin ? '  (stand-in)' : ''}`);
    }
    return 0;
  },
};
