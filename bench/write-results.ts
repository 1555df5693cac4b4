// Where every benchmark leaves its figures: bench/results/<bench>-<date>.json.
import * as fs from 'fs';
import * as path from 'path';
import { PROJECT_ROOT } from '../lib/paths';

/** Writes the results as bench/results/<bench>-<YYYY-MM-DD>.json and returns the file's path. */
export function writeResults(bench: string, results: { date: string } & Record<string, unknown>): string {
  const dir = path.join(PROJECT_ROOT, 'bench/results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${bench}-${results.date.slice(0, 10)}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}
