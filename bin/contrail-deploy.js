#!/usr/bin/env node
// Runs the TypeScript CLI directly (swc transpiles on load; `npm run typecheck` does the type checking).
'use strict';
const path = require('path');
require('ts-node').register({
  project: path.join(__dirname, '..', 'tsconfig.json'),
  transpileOnly: true,
  swc: true,
});
require('../cli/main').main(process.argv.slice(2));
