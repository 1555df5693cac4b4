#!/usr/bin/env node
'use strict';
require('./register-ts');
// Exit when the command is done: a run left parked still has a long poll open on its result.
require('../cli/main').main(process.argv.slice(2)).then(() => process.exit());
