// Random and mutated YAML never crashes the readers: every outcome is a result or a ConfigError naming the file.
import * as fs from 'fs';
import * as path from 'path';
import { parseCatalog } from '../../model/catalog';
import { parseLegacyBuildFile } from '../../model/legacy';
import { parseTopology } from '../../model/topology';
import { PROJECT_ROOT } from '../../lib/paths';
import { loadCatalog } from '../../lib/load';

/** A small seeded generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = ['\t', ':', ' ', '\n', '- ', '[', ']', '{', '}', '&a ', '*a', '!!str ', '"', "'", '#', '\u0000', '?', '|', '>', ',', '0x1', '~', 'null', '1e999', '..', '/', '$(', '`', ';', 'é', '\uFEFF', '<<: *a'];

function mutate(text: string, next: () => number): string {
  const lines = text.split('\n');
  const ops = 1 + Math.floor(next() * 4);
  let out = text;
  for (let i = 0; i < ops; i++) {
    const pos = Math.floor(next() * out.length);
    const op = Math.floor(next() * 5);
    if (op === 0) out = out.slice(0, pos) + PIECES[Math.floor(next() * PIECES.length)] + out.slice(pos);
    else if (op === 1) out = out.slice(0, pos) + out.slice(pos + 1 + Math.floor(next() * 10));
    else if (op === 2) {
      const l = Math.floor(next() * lines.length);
      out = [...lines.slice(0, l), lines[l], ...lines.slice(l)].join('\n');
    } else if (op === 3) out = out.slice(0, pos);
    else out = Array.from({ length: 20 }, () => PIECES[Math.floor(next() * PIECES.length)]).join('');
  }
  return out;
}

function expectNoCrash(fn: () => unknown, file: string, seed: number): void {
  try {
    fn();
  } catch (e) {
    const err = e as Error;
    if (err.name !== 'ConfigError') throw new Error(`seed ${seed}: ${err.name}: ${err.message}\n${err.stack}`);
    expect(err.message).toContain(file);
    expect(err.message).not.toMatch(/\n\s+at /);
  }
}

const topologyText = fs.readFileSync(path.join(PROJECT_ROOT, 'topology/smoke.yaml'), 'utf8');
const catalogText = fs.readFileSync(path.join(PROJECT_ROOT, 'images/smoke.yaml'), 'utf8');
const legacyText = fs.readFileSync(path.join(PROJECT_ROOT, 'test/fixtures/legacy/structure-2016.yaml'), 'utf8');
const catalog = loadCatalog(path.join(PROJECT_ROOT, 'images/smoke.yaml'));

test('mutated topologies, catalogs and build files give a result or a ConfigError, never a crash', () => {
  const started = Date.now();
  for (let seed = 1; seed <= 1500; seed++) {
    const next = rng(seed);
    expectNoCrash(() => parseTopology('/t/lab.yaml', mutate(topologyText, next), { labDir: '/lab', loadCatalog: () => catalog }), '/t/lab.yaml', seed);
    expectNoCrash(() => parseCatalog('/c/catalog.yaml', mutate(catalogText, next)), '/c/catalog.yaml', seed);
    expectNoCrash(() => parseLegacyBuildFile('/s/structure.yaml', mutate(legacyText, next)), '/s/structure.yaml', seed);
  }
  // Bounded time: 4500 documents.
  expect(Date.now() - started).toBeLessThan(60000);
});

test('random bytes give a ConfigError', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const next = rng(seed);
    const bytes = Array.from({ length: Math.floor(next() * 300) }, () => String.fromCharCode(Math.floor(next() * 256))).join('');
    expectNoCrash(() => parseTopology('/t/x.yaml', bytes, { labDir: '/lab', loadCatalog: () => catalog }), '/t/x.yaml', seed);
  }
});
