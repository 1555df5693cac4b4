#!/usr/bin/env node
// Runs the TypeScript CLI directly (swc transpiles on load; `npm run typecheck` does the type checking).
'use strict';
const path = require('path');
require('ts-node').register({
  project: path.join(__dirname, '..', 'tsconfig.json'),
  transpileOnly: true,
  swc: true,
});
// Exit when the command is done: a run left parked still has a long poll open on its result.
require('../cli/main').main(process.argv.slice(2)).then(() => process.exit());
