export class UsageError extends Error {}

export function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `expected one ${what}, got ${positionals.length}: ${positionals.join(' ')}` : `missing the ${what}`);
  return positionals[0];
}
