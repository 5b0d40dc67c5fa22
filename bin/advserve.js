#!/usr/bin/env node
// Runs the compiled CLI when `npm run build` has produced it, else the TypeScript source via tsx.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const compiled = join(__dirname, '..', 'dist', 'src', 'cli.js');
let cli;
if (existsSync(compiled)) cli = require(compiled);
else {
  require('tsx/cjs');
  cli = require('../src/cli.ts');
}
cli.main(process.argv.slice(2)).then((code) => {
  // serve resolves 0 once listening and keeps running; a failed start exits with its code.
  if (process.argv[2] !== 'serve' || code !== 0) process.exit(code);
});
