// The original repository's build files, read so that a user of the 2015/2016 scripts can plan their own file:
// 2015: `version` + `containers: {base: [sub, ...] | null}`; a sub's image is "<base>-<sub>", built FROM the base.
// 2016: `contrailversion`, `contrailbuild`, ... + `containers: {openstack|contrail|common: {base: [subs] | null}}`.
import { isMap, isSeq } from 'yaml';
import type { Catalog, ImageSpec } from './types';
import { YamlReader, type YamlNode } from './yaml-reader';

const SECTIONS = ['openstack', 'contrail', 'common'];
/** The originals built bases FROM ubuntu:14.04 (nova's family FROM an external OpenStack base); the file does not say. */
const LEGACY_BASE = 'ubuntu:14.04';

export function isLegacyBuildFile(text: string): boolean {
  return /^containers\s*:/m.test(text) && !/^images\s*:/m.test(text);
}

export function parseLegacyBuildFile(file: string, text: string): Catalog & { release: string } {
  const r = new YamlReader(file, text);
  r.done();
  const top = r.map(r.root, '', { required: ['containers'], optional: ['version', 'contrailversion', 'contrailbuild', 'openstackversion', 'commonversion', 'containerpath', 'repo'] });
  r.done();
  const m = top!;
  const scalar = (k: string) => (m.has(k) ? String((m.get(k) as { value?: unknown })?.value ?? '') : '');
  const release = scalar('version') || [scalar('contrailversion'), scalar('contrailbuild')].filter(Boolean).join('-') || 'unversioned';
  const images: ImageSpec[] = [];
  const containers = m.get('containers');
  const pairs = r.pairs(containers, 'containers') ?? [];
  const sectioned = pairs.length > 0 && pairs.every(([k, v]) => SECTIONS.includes(String((k as { value?: unknown })?.value)) && (isMap(v) || v === null || (v as { value?: unknown })?.value === null));
  if (sectioned) {
    for (const [k, v] of pairs) readGroup(r, v, `containers.${String((k as { value?: unknown }).value)}`, images);
  } else {
    readGroup(r, containers, 'containers', images);
  }
  r.done();
  return { file, images, release };
}

function readGroup(r: YamlReader, node: YamlNode, field: string, out: ImageSpec[]): void {
  for (const [k, v] of r.pairs(node, field) ?? []) {
    const base = r.str(k, field);
    if (base === undefined) continue;
    out.push(legacyImage(base, null));
    if (isSeq(v)) {
      (r.strList(v, `${field}.${base}`) ?? []).forEach((sub) => out.push(legacyImage(`${base}-${sub}`, base)));
    } else if (v !== null && v !== undefined && (v as { value?: unknown }).value !== null) {
      r.problem(v, `${field}.${base}`, 'expected a list of sub image suffixes, or nothing');
    }
  }
}

function legacyImage(name: string, parent: string | null): ImageSpec {
  return {
    name, context: name, dockerfile: 'Dockerfile', parent, base: parent ? null : LEGACY_BASE,
    labels: {}, buildArgs: {}, ports: [], command: null, volumes: [], privileged: false, capAdd: [], needs: [], reads: [], secrets: [], standin: null,
  };
}
