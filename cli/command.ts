// What every subcommand is: its name, help and options, and what it does. Apart from main.ts so that commands do not
// import the module that imports them.
import type { ParseArgsConfig } from 'util';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(args: { values: Record<string, unknown>; positionals: string[] }): Promise<number>;
}
