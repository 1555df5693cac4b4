// contrail-deploy: the command line. Each subcommand has --help; bad input exits 2 with a message, never a stack trace.
import { parseArgs } from 'util';
import type { Command } from './command';
import { ConfigError } from '../model/config-error';
import { checkCommand } from './check';
import { composeCommand } from './compose';
import { diffCommand } from './diff';
import { abortCommand, retryCommand, skipCommand } from './decide';
import { historyCommand } from './history';
import { imagesCommand } from './images';
import { labCommand } from './lab';
import { downCommand, logsCommand } from './operate';
import { planCommand } from './plan';
import { resumeCommand } from './resume';
import { rollbackCommand } from './rollback';
import { scheduleCommand } from './schedule';
import { simulateCommand } from './simulate';
import { buildCommand, runCommand } from './run';
import { statusCommand } from './status';
import { workerCommand } from './worker';
import { UsageError } from './usage';


const COMMANDS: Command[] = [labCommand, workerCommand, planCommand, checkCommand, imagesCommand, buildCommand, runCommand, statusCommand, retryCommand, skipCommand, abortCommand, resumeCommand, rollbackCommand, historyCommand, diffCommand, scheduleCommand, logsCommand, downCommand, composeCommand, simulateCommand];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'contrail-deploy: build, push and deploy a containerized OpenStack + OpenContrail control plane, durably, on Temporal.',
    '',
    'Usage: contrail-deploy <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "contrail-deploy <command> --help" for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    process.exitCode = name ? 0 : 2;
    return;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`contrail-deploy: unknown command "${name}"\n\n${mainHelp()}`);
    process.exitCode = 2;
    return;
  }
  try {
    const parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if (parsed.values.help) {
      console.log(command.usage);
      return;
    }
    process.exitCode = await command.run(parsed as { values: Record<string, unknown>; positionals: string[] });
  } catch (e) {
    process.exitCode = reportError(command, e);
  }
}

function reportError(command: Command, e: unknown): number {
  if (e instanceof ConfigError) {
    console.error(e.message);
    return 2;
  }
  const code = (e as { code?: string }).code;
  if (e instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    console.error(`contrail-deploy ${command.name}: ${(e as Error).message}\n\n${command.usage}`);
    return 2;
  }
  console.error(`contrail-deploy ${command.name}: ${(e as Error).message ?? String(e)}`);
  if (process.env.CONTRAIL_DEBUG) console.error((e as Error).stack);
  return 1;
}
