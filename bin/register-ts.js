// Loads the project's TypeScript sources directly: swc strips the types (`npm run typecheck` checks them), and the
// output is cached on disk by content, so a command starts without loading a compiler at all once the cache is warm.
// (ts-node loaded the whole TypeScript compiler on every start, most of a second per CLI command.)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const CACHE_DIR = path.join(ROOT, 'node_modules', '.cache', 'contrail-deploy-ts');
const SWC_OPTIONS = {
  jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
  module: { type: 'commonjs' },
  sourceMaps: 'inline',
};

let swc; // loaded on the first cache miss only
const optionsKey = JSON.stringify(SWC_OPTIONS) + require('@swc/core/package.json').version;

function transpile(source, filename) {
  const key = crypto.createHash('sha256').update(optionsKey).update(filename).update(source).digest('hex');
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    swc ??= require('@swc/core');
    const { code } = swc.transformSync(source, { ...SWC_OPTIONS, filename });
    try {
      fs.mkdirSync(CACHE_DIR, { recursive: true });
      // Written aside and renamed: a concurrent reader never sees half a file.
      const tmp = `${cached}.${process.pid}`;
      fs.writeFileSync(tmp, code);
      fs.renameSync(tmp, cached);
    } catch {
      // A read-only checkout still runs, only without the cache.
    }
    return code;
  }
}

process.setSourceMapsEnabled(true);
require.extensions['.ts'] = (module, filename) => {
  module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename), filename);
};
