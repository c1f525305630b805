#!/usr/bin/env node
// Builds the dashboard's front end (src/ui/app) into dist/ui: one JavaScript bundle, one stylesheet
// and the page. Run by `npm run build` (so `npm start` and `npm test` always serve a fresh build);
// type checking is `tsc -p src/ui/tsconfig.json`, run just before.
import { copyFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const out = fileURLToPath(new URL('../../dist/ui/', import.meta.url));
mkdirSync(`${out}assets`, { recursive: true });
await build({
  entryPoints: { app: `${here}app/main.tsx` },
  outdir: `${out}assets`,
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: `${here}tsconfig.json`,
  logLevel: 'warning',
  legalComments: 'none',
});
copyFileSync(`${here}index.html`, `${out}index.html`);
