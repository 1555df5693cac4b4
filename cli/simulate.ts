// `contrail-deploy simulate clear <host>... | reset`: an operator's fix of a simulated host's permanent fault (a scale
// run's `simulate.failHosts` or permanentFailureRate), so that `retry` can be tried as on a real host. Files only: the
// simulated worker looks for them on each preparation attempt.
import * as fs from 'fs';
import * as path from 'path';
import { clearedFaultsDir } from '../lib/paths';
import { NAME } from '../model/catalog';
import type { Command } from './command';
import { UsageError } from './usage';

export const simulateCommand: Command = {
  name: 'simulate',
  summary: "clear or reset the permanent faults of simulated hosts (a topology's simulate: block)",
  usage: `Usage: contrail-deploy simulate clear <host>... | reset

  clear HOST...  the simulated permanent fault of these hosts is fixed: their next preparation succeeds (then
                 "contrail-deploy retry <run-id> --step prepare:HOST")
  reset          every simulated permanent fault is back

  Only for topologies with a simulate: block, whose host work a worker started with --simulate does without touching
  any host. The faults cleared are files in ${clearedFaultsDir()}/, read by that worker.`,
  options: {},
  async run({ positionals }) {
    const [action, ...hosts] = positionals;
    if (action === 'clear') return clear(hosts);
    if (action === 'reset' && !hosts.length) return reset();
    throw new UsageError(action === 'reset' ? `reset takes no host: ${hosts.join(' ')}` : action ? `unknown action "${action}": clear or reset` : 'missing the action: clear or reset');
  },
};

function clear(hosts: string[]): number {
  if (!hosts.length) throw new UsageError('clear needs at least one host name');
  const bad = hosts.filter((h) => !NAME.pattern.test(h));
  if (bad.length) throw new UsageError(`not a host name: ${bad.join(', ')} (${NAME.hint})`);
  fs.mkdirSync(clearedFaultsDir(), { recursive: true });
  for (const host of hosts) fs.writeFileSync(path.join(clearedFaultsDir(), host), `${new Date().toISOString()}\n`);
  console.log(`cleared the simulated permanent fault of ${hosts.join(', ')}`);
  return 0;
}

function reset(): number {
  const cleared = fs.existsSync(clearedFaultsDir()) ? fs.readdirSync(clearedFaultsDir()) : [];
  fs.rmSync(clearedFaultsDir(), { recursive: true, force: true });
  console.log(cleared.length ? `simulated permanent faults are back on ${cleared.join(', ')}` : 'no simulated fault was cleared');
  return 0;
}
