// Shell text built from data (scripts run over SSH, health checks the engine runs with /bin/sh).

/** Quotes one argument for a POSIX shell. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
