import * as path from 'path';
import { buildLevels, checkDockerfileFrom, parseCatalog } from '../../model/catalog';
import { loadCatalog } from '../../lib/load';
import { PROJECT_ROOT } from '../../lib/paths';
import { RUNTIME_DEFAULTS } from '../helpers/files';
import { configProblems, scratchDir } from '../helpers/files';

describe('catalog', () => {
  test('the smoke catalog loads, and every sub comes after its parent', () => {
    const catalog = loadCatalog(path.join(PROJECT_ROOT, 'images/smoke.yaml'));
    const order = buildLevels(catalog.images).map((x) => x.image.name);
    for (const image of catalog.images) {
      if (image.parent) expect(order.indexOf(image.parent)).toBeLessThan(order.indexOf(image.name));
    }
    expect(catalog.images.find((i) => i.name === 'smoke-web')?.labels['net.juniper.node']).toBe('controller');
  });

  test('levels: roots 0, subs one more than their parent', () => {
    const c = parseCatalog('c.yaml', 'images:\n  - {name: a, base: "busybox:local"}\n  - {name: b, parent: a}\n  - {name: c, parent: b}\n');
    expect(buildLevels(c.images).map((x) => [x.image.name, x.level])).toEqual([['a', 0], ['b', 1], ['c', 2]]);
  });

  test('a parent that does not exist is named with the known images', () => {
    const msg = configProblems(() => parseCatalog('c.yaml', 'images:\n  - {name: a, base: "busybox:local"}\n  - {name: b, parent: nope}\n'));
    expect(msg).toContain('c.yaml');
    expect(msg).toContain('images.b.parent');
    expect(msg).toContain('parent "nope" is not in the catalog');
    expect(msg).toContain('known images: a, b');
  });

  test('a cycle is reported with its path', () => {
    const msg = configProblems(() => parseCatalog('c.yaml', 'images:\n  - {name: r, base: "x:1"}\n  - {name: a, parent: b}\n  - {name: b, parent: a}\n'));
    expect(msg).toMatch(/parent chain loops: a -> b -> a/);
  });

  test('unknown keys point at file, line and column, with a suggestion', () => {
    const msg = configProblems(() => parseCatalog('c.yaml', 'images:\n  - name: a\n    base: "x:1"\n    lables: {}\n'));
    expect(msg).toContain('c.yaml:4:5: images[0].lables: unknown key "lables" (did you mean "labels"?)');
  });

  test('YAML syntax errors and duplicate keys carry line and column', () => {
    expect(configProblems(() => parseCatalog('c.yaml', 'images:\n  - name: a\n    name: b\n'))).toMatch(/c\.yaml:3:5: .*[Mm]ap keys must be unique/);
    expect(configProblems(() => parseCatalog('c.yaml', 'images: [\n'))).toMatch(/c\.yaml:\d+:\d+:/);
    expect(configProblems(() => parseCatalog('c.yaml', 'images:\n\t- name: a\n'))).toMatch(/c\.yaml:2:1:/);
  });

  test('duplicate image names and oversized files are refused', () => {
    expect(configProblems(() => parseCatalog('c.yaml', 'images:\n  - {name: a, base: "x:1"}\n  - {name: a, base: "x:2"}\n'))).toContain('images.a: duplicate image name "a"');
    expect(configProblems(() => parseCatalog('c.yaml', `images: []\n#${'x'.repeat(1024 * 1024)}`))).toMatch(/c\.yaml: file is \d+ bytes, more than the 1048576 allowed/);
  });

  test('empty and binary files are refused', () => {
    expect(configProblems(() => parseCatalog('c.yaml', ''))).toBe('c.yaml: file is empty (see topology/smoke.yaml for an example)');
    expect(configProblems(() => parseCatalog('c.yaml', 'a\u0000b'))).toContain('file is binary');
  });

  test('an alias bomb is refused in bounded time', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 9; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`);
    const started = Date.now();
    expect(configProblems(() => parseCatalog('c.yaml', bomb.join('\n')))).toMatch(/alias/i);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('health checks: tcp, http (port and path) and a command; a check with none of them, or a bad path, is refused', () => {
    const cat = (health: string) => parseCatalog('c.yaml', `images:\n  - name: a\n    base: "busybox:local"\n    health: ${health}\n`);
    expect(cat('{ http: { port: 5000, path: /v3 }, timeoutSeconds: 30 }').images[0].health).toEqual({ tcp: undefined, http: { port: 5000, path: '/v3' }, command: undefined, timeoutSeconds: 30 });
    expect(cat('{ http: { port: 80 } }').images[0].health?.http).toEqual({ port: 80, path: '/' });
    expect(configProblems(() => cat('{ timeoutSeconds: 30 }'))).toContain('a health check needs "tcp: PORT", "http: {port: PORT, path: /...}" or "command: [...]"');
    expect(configProblems(() => cat('{ http: { port: 80, path: "v3 x" } }'))).toMatch(/c\.yaml:4:\d+: images\[0\]\.health\.http\.path: invalid value "v3 x".*starting with "\/"/s);
    expect(configProblems(() => cat('{ http: { path: /v3 } }'))).toContain('port');
  });

  test('a Dockerfile FROM that disagrees with the catalog is refused with the fix', () => {
    const image = { name: 'sub', context: 'sub', dockerfile: 'Dockerfile', parent: 'base', base: null, labels: {}, buildArgs: {}, ports: [], ...RUNTIME_DEFAULTS };
    expect(checkDockerfileFrom('D', image, 'FROM base\n')?.hint).toContain('FROM ${BASE_IMAGE}');
    expect(checkDockerfileFrom('D', image, 'ARG BASE_IMAGE=other\nFROM ${BASE_IMAGE}\n')?.message).toContain('names other as its base');
    expect(checkDockerfileFrom('D', image, 'ARG BASE_IMAGE=base\nFROM ${BASE_IMAGE}\n')).toBeUndefined();
  });

  test('loadCatalog checks each Dockerfile on disk', () => {
    const dir = scratchDir({
      'catalog.yaml': 'images:\n  - {name: a, base: "busybox:local"}\n  - {name: b, parent: a}\n',
      'a/Dockerfile': 'ARG BASE_IMAGE=busybox:local\nFROM ${BASE_IMAGE}\n',
      'b/Dockerfile': 'FROM a\n',
    });
    const msg = configProblems(() => loadCatalog(path.join(dir, 'catalog.yaml')));
    expect(msg).toContain(`${dir}/b/Dockerfile:1:1: FROM: image "b" builds FROM a, but the catalog says parent "a"`);
  });
});
