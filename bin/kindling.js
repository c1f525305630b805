#!/usr/bin/env node
// The `kindling` command. The CLI is compiled by `npm ci` (the `prepare` script) into dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('kindling: not built yet. Run `npm ci` (or `npm run build`) in the repository first.');
  process.exit(1);
}
await import(main.href);
