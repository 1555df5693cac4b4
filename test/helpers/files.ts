import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** A scratch directory with the given files; removed by the caller's afterAll via cleanup(). */
export function scratchDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'contrail-test-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

/** The message of the ConfigError that fn throws (fails the test if it throws none). */
export function configProblems(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if ((e as Error).name === 'ConfigError') return (e as Error).message;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** The runtime fields of a catalog image that a test does not care about. */
export const RUNTIME_DEFAULTS = { command: null, volumes: [] as string[], privileged: false, capAdd: [] as string[], needs: [] as string[], reads: [] as string[], secrets: [] as string[], standin: null };
