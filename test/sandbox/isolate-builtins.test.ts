/** The isolate tier's deploy-time check: which Node built-ins a bundle asks for. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findNodeBuiltins } from '../../src/sandbox/isolate/index.js';

test('finds require, import and export-from of built-ins, with or without node:', () => {
  const source = `
    const fs = require("fs");
    const p = require('node:path');
    import { readFile } from "node:fs/promises";
    import crypto from 'crypto';
    import 'node:sqlite';
    export { once } from "events";
    const later = await import('node:zlib');
    const again = require("fs");
  `;
  assert.deepEqual(findNodeBuiltins(source), [
    'fs',
    'path',
    'fs/promises',
    'crypto',
    'sqlite',
    'events',
    'zlib',
  ]);
});

test('ignores packages, relative paths and computed requires', () => {
  const source = `
    const lodash = require("lodash");
    import x from './fs.js';
    import y from "fs-extra";
    const name = 'fs'; const m = require(name);
  `;
  assert.deepEqual(findNodeBuiltins(source), []);
});
