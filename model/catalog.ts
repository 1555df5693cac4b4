// The image catalog: what to build, from what, with which labels; and the build graph that follows from it.
import { ConfigError, type ConfigProblem } from './config-error';
import type { Catalog, HealthCheck, ImageSpec, QuorumCheck } from './types';
import { YamlReader, type YamlNode } from './yaml-reader';

export const NAME = { pattern: /^[a-z0-9][a-z0-9._-]{0,62}$/, hint: 'lower-case letters, digits, ".", "_" and "-", starting with a letter or digit' };
const LABEL_KEY = { pattern: /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/, hint: 'a reverse-DNS label key such as net.juniper.contrail' };
const ARG_NAME = { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, hint: 'letters, digits and _' };
const IMAGE_REF = { pattern: /^[a-z0-9][a-z0-9./_:@-]*$/, hint: 'an image reference such as debian:bookworm-slim' };
export const VOLUME = { pattern: /^\/[A-Za-z0-9._/-]*:\/[A-Za-z0-9._/-]*(:(ro|rw))?$/, hint: 'HOST_PATH:CONTAINER_PATH[:ro]' };
export const CAPABILITY = { pattern: /^[A-Z_]{2,32}$/, hint: 'a capability such as NET_ADMIN' };
export const ENV_NAME = { pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, hint: 'letters, digits and _' };
const REL_PATH = { pattern: /^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]+$/, hint: 'a path relative to the catalog file, without ".."' };

/** The build arg through which every catalog Dockerfile receives its exact parent reference. */
export const BASE_IMAGE_ARG = 'BASE_IMAGE';

export interface CatalogPart {
  images: ImageSpec[];
  /** Other catalog files whose images belong to this catalog, relative to this file. */
  includes: string[];
}

/** One catalog file, checked on its own; the graph is checked once all included parts are assembled. */
export function parseCatalogPart(file: string, text: string): CatalogPart {
  const r = new YamlReader(file, text);
  r.done(); // syntax problems first: nothing below is meaningful without a document
  const top = r.map(r.root, '', { optional: ['images', 'include'] });
  const images: ImageSpec[] = [];
  (r.list(top?.get('images'), 'images') ?? []).forEach((node, i) => {
    const image = readImage(r, node, `images[${i}]`);
    if (image) images.push(image);
  });
  const includes = r.strList(top?.get('include'), 'include', REL_PATH) ?? [];
  r.done();
  return { images, includes };
}

export function assembleCatalog(file: string, images: ImageSpec[]): Catalog {
  checkGraph(file, images);
  return { file, images };
}

/** A catalog without includes, from text. */
export function parseCatalog(file: string, text: string): Catalog {
  return assembleCatalog(file, parseCatalogPart(file, text).images);
}

function readImage(r: YamlReader, node: YamlNode, field: string): ImageSpec | undefined {
  const m = r.map(node, field, {
    required: ['name'],
    optional: ['context', 'dockerfile', 'parent', 'base', 'labels', 'buildArgs', 'ports', 'health', 'volumes', 'privileged', 'capAdd', 'needs', 'reads', 'secrets', 'standin', 'command', 'quorum'],
  });
  if (!m) return undefined;
  const name = r.str(m.get('name'), `${field}.name`, NAME);
  const parent = m.has('parent') ? r.str(m.get('parent'), `${field}.parent`, NAME) : null;
  const base = m.has('base') ? r.str(m.get('base'), `${field}.base`, IMAGE_REF) : null;
  if (m.has('parent') === m.has('base')) {
    r.problem(node, field, 'an image needs exactly one of "parent" (a catalog image) or "base" (an external base image)');
  }
  const image: ImageSpec = {
    name: name ?? '',
    context: r.optStr(m.get('context'), `${field}.context`, name ?? '', REL_PATH) ?? '',
    dockerfile: r.optStr(m.get('dockerfile'), `${field}.dockerfile`, 'Dockerfile', REL_PATH) ?? '',
    parent: parent ?? null,
    base: base ?? null,
    labels: readStringMap(r, m.get('labels'), `${field}.labels`, LABEL_KEY),
    buildArgs: readStringMap(r, m.get('buildArgs'), `${field}.buildArgs`, ARG_NAME),
    ports: (r.list(m.get('ports'), `${field}.ports`) ?? []).map((p, j) => r.int(p, `${field}.ports[${j}]`, 1, 65535) ?? 0),
    health: m.has('health') ? readHealth(r, m.get('health'), `${field}.health`) : undefined,
    command: m.has('command') ? r.strList(m.get('command'), `${field}.command`) ?? null : null,
    volumes: r.strList(m.get('volumes'), `${field}.volumes`, VOLUME) ?? [],
    privileged: r.bool(m.get('privileged'), `${field}.privileged`, false) ?? false,
    capAdd: r.strList(m.get('capAdd'), `${field}.capAdd`, CAPABILITY) ?? [],
    needs: r.strList(m.get('needs'), `${field}.needs`, ENV_NAME) ?? [],
    reads: r.strList(m.get('reads'), `${field}.reads`, ENV_NAME) ?? [],
    secrets: r.strList(m.get('secrets'), `${field}.secrets`, ENV_NAME) ?? [],
    standin: m.has('standin') ? r.str(m.get('standin'), `${field}.standin`) ?? null : null,
    ...(m.has('quorum') ? { quorum: readQuorum(r, m.get('quorum'), `${field}.quorum`) } : {}),
  };
  if (image.buildArgs[BASE_IMAGE_ARG] !== undefined) r.problem(m.get('buildArgs'), `${field}.buildArgs.${BASE_IMAGE_ARG}`, `${BASE_IMAGE_ARG} is set by the pipeline from "parent" or "base"`);
  return image;
}

export function readStringMap(r: YamlReader, node: YamlNode, field: string, keyCheck: { pattern: RegExp; hint: string }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [keyNode, valueNode] of r.pairs(node, field) ?? []) {
    const key = r.str(keyNode, field, keyCheck);
    const value = r.str(valueNode, key ? `${field}.${key}` : field);
    if (key !== undefined && value !== undefined) out[key] = value;
  }
  return out;
}

export function readHealth(r: YamlReader, node: YamlNode, field: string): HealthCheck | undefined {
  const m = r.map(node, field, { optional: ['tcp', 'http', 'command', 'timeoutSeconds'] });
  if (!m) return undefined;
  if (!m.has('tcp') && !m.has('http') && !m.has('command')) r.problem(node, field, 'a health check needs "tcp: PORT", "http: {port: PORT, path: /...}" or "command: [...]" (run inside the container)');
  return {
    tcp: m.has('tcp') ? r.int(m.get('tcp'), `${field}.tcp`, 1, 65535) : undefined,
    http: m.has('http') ? readHttpCheck(r, m.get('http'), `${field}.http`) : undefined,
    command: m.has('command') ? r.strList(m.get('command'), `${field}.command`) : undefined,
    timeoutSeconds: m.has('timeoutSeconds') ? r.int(m.get('timeoutSeconds'), `${field}.timeoutSeconds`, 1, 3600) ?? 60 : 60,
  };
}

function readQuorum(r: YamlReader, node: YamlNode, field: string): QuorumCheck {
  const m = r.map(node, field, { optional: ['command'] });
  return m?.has('command') ? { command: r.strList(m.get('command'), `${field}.command`) } : {};
}

const URL_PATH = { pattern: /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$/, hint: 'a path starting with "/", e.g. /v3 or /healthcheck' };

function readHttpCheck(r: YamlReader, node: YamlNode, field: string): { port: number; path: string } | undefined {
  const m = r.map(node, field, { required: ['port'], optional: ['path'] });
  if (!m) return undefined;
  const port = r.int(m.get('port'), `${field}.port`, 1, 65535);
  const path = m.has('path') ? r.str(m.get('path'), `${field}.path`, URL_PATH) : '/';
  return port === undefined || path === undefined ? undefined : { port, path };
}

/** Duplicate names, unknown parents and cycles. */
function checkGraph(file: string, images: ImageSpec[]): void {
  const problems: ConfigProblem[] = [];
  const byName = new Map<string, ImageSpec>();
  for (const image of images) {
    if (byName.has(image.name)) problems.push({ file, field: `images.${image.name}`, message: `duplicate image name "${image.name}"`, hint: 'each image name must be unique' });
    byName.set(image.name, image);
  }
  for (const image of images) {
    if (image.parent !== null && !byName.has(image.parent)) {
      problems.push({ file, field: `images.${image.name}.parent`, message: `parent "${image.parent}" is not in the catalog`, hint: `known images: ${[...byName.keys()].join(', ')}` });
    }
  }
  if (!problems.length) {
    for (const image of images) {
      const seen: string[] = [];
      for (let cur: ImageSpec | undefined = image; cur?.parent; cur = byName.get(cur.parent)) {
        if (seen.includes(cur.name)) {
          problems.push({ file, field: `images.${image.name}.parent`, message: `the parent chain loops: ${[...seen, cur.name].join(' -> ')}`, hint: 'every chain must end at an image with "base"' });
          break;
        }
        seen.push(cur.name);
      }
    }
  }
  if (problems.length) throw new ConfigError(problems);
}

/** Images with their depth in the graph: roots are level 0, a sub is one more than its parent. Parents come first. */
export function buildLevels(images: ImageSpec[]): { image: ImageSpec; level: number }[] {
  const byName = new Map(images.map((i) => [i.name, i]));
  const level = (image: ImageSpec): number => (image.parent === null ? 0 : 1 + level(byName.get(image.parent)!));
  return images.map((image) => ({ image, level: level(image) })).sort((a, b) => a.level - b.level || a.image.name.localeCompare(b.image.name));
}

/** A Dockerfile must build on exactly the reference the pipeline passes: FROM ${BASE_IMAGE}. */
export function checkDockerfileFrom(file: string, image: ImageSpec, dockerfile: string): ConfigProblem | undefined {
  const lines = dockerfile.split('\n');
  const fromIndex = lines.findIndex((l) => /^\s*FROM\s/i.test(l));
  if (fromIndex < 0) return { file, field: image.name, message: 'Dockerfile has no FROM line' };
  const from = lines[fromIndex].trim().split(/\s+/)[1];
  if (from !== `\${${BASE_IMAGE_ARG}}` && from !== `$${BASE_IMAGE_ARG}`) {
    return {
      file, line: fromIndex + 1, column: 1, field: 'FROM',
      message: `image "${image.name}" builds FROM ${from}, but the catalog says ${image.parent ? `parent "${image.parent}"` : `base "${image.base}"`}`,
      hint: `write "ARG ${BASE_IMAGE_ARG}=${image.parent ?? image.base}" and "FROM \${${BASE_IMAGE_ARG}}" so it builds on exactly the image the pipeline just built`,
    };
  }
  const argLine = lines.findIndex((l) => new RegExp(`^\\s*ARG\\s+${BASE_IMAGE_ARG}=`).test(l));
  if (argLine >= 0) {
    const declared = lines[argLine].trim().split('=')[1];
    const expected = image.parent ?? image.base;
    if (declared !== expected) {
      return { file, line: argLine + 1, column: 1, field: 'ARG', message: `Dockerfile names ${declared} as its base, but the catalog says ${expected}`, hint: `make them agree: ARG ${BASE_IMAGE_ARG}=${expected}` };
    }
  }
  return undefined;
}
