import * as fs from 'fs';
import * as path from 'path';
import { cacheDir, labDir } from '../../lib/paths';

/** The temporal CLI binary the lab uses (never downloaded by tests). */
export function temporalCli(): string {
  const candidates = [process.env.TEMPORAL_CLI, readIfExists(path.join(labDir(), 'temporal', 'cli')), path.join(cacheDir(), 'bin', 'temporal')];
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) throw new Error('no temporal binary: run "contrail-deploy lab up" first (it builds or finds one)');
  return found;
}

function readIfExists(f: string): string | undefined {
  try {
    return fs.readFileSync(f, 'utf8').trim();
  } catch {
    return undefined;
  }
}
