#!/usr/bin/env node
// Benchmarks: `node bench/run.js build|deploy|scale|bastion|workers|upgrade|image-tree [options]` (see the header of each bench/*.ts). Results in bench/results/.
'use strict';
require('../bin/register-ts');
const benches = {
  build: () => require('./build').benchBuild(),
  deploy: () => require('./deploy').benchDeploy(process.argv.slice(3)),
  scale: () => require('./scale').benchScale(process.argv.slice(3)),
  bastion: () => require('./bastion').benchBastion(process.argv.slice(3)),
  workers: () => require('./workers').benchWorkers(),
  upgrade: () => require('./upgrade').benchUpgrade(),
  'image-tree': () => require('./image-tree').benchImageTree(),
};
const name = process.argv[2];
if (!benches[name]) {
  console.error(`usage: node bench/run.js ${Object.keys(benches).join('|')} [options]`);
  process.exit(2);
}
benches[name]().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench ${name} failed: ${e.message}`);
    process.exit(1);
  },
);
