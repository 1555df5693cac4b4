// `contrail-deploy compose export <topology> <dir>`: the original's per-group docker-compose layout, from the plan.
import * as fs from 'fs';
import * as path from 'path';
import { loadPlan } from '../lib/load';
import { composeFiles } from '../model/compose';
import type { Command } from './command';
import { UsageError } from './usage';

export const composeCommand: Command = {
  name: 'compose',
  summary: 'export the per-group docker-compose files of the original layout (compose export <topology> <dir>)',
  usage: `Usage: contrail-deploy compose export <topology.yaml> <dir> [--force]

  Writes <dir>/<host>/<group>/docker-compose.yml and common.env for every host and group (stage) of the topology:
  host networking, restart policy, volumes, privileges and labels as the pipeline sets them; images by release tag.
  Secrets are not written: each appears as \${SECRET_NAME}, which compose fills from your shell.
  Start the groups on each host in stage order; nothing waits for anything (that is what "run" is for).
  --force   write into a directory that is not empty`,
  options: { force: { type: 'boolean' } },
  async run({ values, positionals }) {
    const [sub, topologyFile, dir, ...extra] = positionals;
    if (sub !== 'export') throw new UsageError(sub ? `unknown compose subcommand "${sub}": the only one is "export"` : 'missing subcommand: compose export <topology.yaml> <dir>');
    if (!topologyFile || !dir || extra.length) throw new UsageError('usage: contrail-deploy compose export <topology.yaml> <dir>');
    const { plan } = loadPlan(topologyFile);
    if (fs.existsSync(dir) && fs.readdirSync(dir).length && !values.force) throw new UsageError(`${dir} is not empty: choose an empty directory, or pass --force to overwrite`);
    const files = composeFiles(plan);
    for (const f of files) {
      const target = path.join(dir, f.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, f.text);
    }
    const groups = files.filter((f) => f.path.endsWith('docker-compose.yml')).map((f) => path.dirname(f.path));
    console.log(`wrote ${groups.length} groups to ${dir}:`);
    for (const g of groups) console.log(`  ${g}`);
    return 0;
  },
};
