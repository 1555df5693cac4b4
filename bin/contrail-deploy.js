#!/usr/bin/env node
'use strict';
require('./register-ts');
// Exit when the command is done (a run left parked still has a long poll open on its result), but only once stdout
// has taken everything: a pipe takes large output (status --json at scale) in pieces, and exit would cut it short.
require('../cli/main').main(process.argv.slice(2)).then(() => process.stdout.write('', () => process.exit()));
