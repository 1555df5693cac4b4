// Reads topology and catalog files from disk and validates them; the same path for every command.
import * as fs from 'fs';
import * as path from 'path';
import { assembleCatalog, checkDockerfileFrom, parseCatalogPart } from '../model/catalog';
import { ConfigError, type ConfigProblem } from '../model/config-error';
import { makePlan, type Plan } from '../model/plan';
import { parseTopology } from '../model/topology';
import type { Catalog, ImageSpec, Topology } from '../model/types';
import { MAX_FILE_BYTES } from '../model/yaml-reader';
import { expandHome, labDir } from './paths';

export function readUserFile(file: string, what: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new ConfigError([{ file, message: `${what} file not found`, hint: 'check the path' }]);
  }
  if (!stat.isFile()) throw new ConfigError([{ file, message: `${what} path is not a file` }]);
  if (stat.size > MAX_FILE_BYTES) throw new ConfigError([{ file, message: `file is ${stat.size} bytes, more than the ${MAX_FILE_BYTES} allowed` }]);
  return fs.readFileSync(file, 'utf8');
}

/** A catalog file and the files it includes (contexts are relative to the file that names the image). */
export function loadCatalog(file: string): Catalog {
  const abs = path.resolve(file);
  const images: ImageSpec[] = [];
  const seen = new Set<string>();
  const visit = (f: string, prefix: string) => {
    if (seen.has(f)) throw new ConfigError([{ file: f, field: 'include', message: 'this file is included twice (or includes itself)' }]);
    seen.add(f);
    const part = parseCatalogPart(f, readUserFile(f, 'catalog'));
    images.push(...part.images.map((i) => ({ ...i, context: path.posix.join(prefix, i.context) })));
    for (const inc of part.includes) visit(path.join(path.dirname(f), inc), path.posix.join(prefix, path.posix.dirname(inc)));
  };
  visit(abs, '');
  const catalog = assembleCatalog(abs, images);
  const problems: ConfigProblem[] = [];
  for (const image of catalog.images) {
    const dockerfile = path.join(path.dirname(abs), image.context, image.dockerfile);
    let text: string;
    try {
      text = fs.readFileSync(dockerfile, 'utf8');
    } catch {
      problems.push({ file: abs, field: `images.${image.name}.context`, message: `no Dockerfile at ${dockerfile}`, hint: 'set context/dockerfile to the image directory' });
      continue;
    }
    const p = checkDockerfileFrom(dockerfile, image, text);
    if (p) problems.push(p);
  }
  if (problems.length) throw new ConfigError(problems);
  return catalog;
}

export function loadTopology(file: string): Topology {
  const abs = path.resolve(file);
  const t = parseTopology(abs, readUserFile(abs, 'topology'), { labDir: labDir(), loadCatalog });
  t.ssh.knownHosts = expandHome(t.ssh.knownHosts);
  return t;
}

export function loadPlan(file: string): { topology: Topology; plan: Plan } {
  const topology = loadTopology(file);
  return { topology, plan: makePlan(topology, { catalogDir: path.dirname(topology.catalog.file) }) };
}
