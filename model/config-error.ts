/** A problem in a user's file, located precisely enough to fix without reading our code. */
export interface ConfigProblem {
  file: string;
  line?: number;
  column?: number;
  /** Dotted path of the field, e.g. `hosts[1].address`. */
  field?: string;
  message: string;
  /** What would be right. */
  hint?: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = [p.file, p.line !== undefined ? String(p.line) : undefined, p.column !== undefined ? String(p.column) : undefined]
    .filter((x) => x !== undefined)
    .join(':');
  const field = p.field ? ` ${p.field}:` : '';
  const hint = p.hint ? ` (${p.hint})` : '';
  return `${where}:${field} ${p.message}${hint}`;
}

/** Thrown by model code for invalid input; the CLI prints the problems and exits 2. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}
