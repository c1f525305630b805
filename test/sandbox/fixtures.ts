/**
 * Function sources the sandbox tests run, written into temp dirs: each tier runs already-materialised
 * code, so the fixtures are plain .mjs/.cjs files (no bundling).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleEntry } from '../../src/image/bundler.js';
import type { InstanceSpec } from '../../src/sandbox/tier.js';

/** One handler shape per entry: file name → source. Each returns `{ shape: <its file name>, event }`. */
export const SHAPES: Record<string, string> = {
  'esm-default.mjs': `export default async (event) => ({ shape: 'esm-default.mjs', event });`,
  'esm-handler.mjs': `export const handler = async (event) => ({ shape: 'esm-handler.mjs', event });`,
  // What esbuild emits when it bundles a CommonJS handler to ESM: the module's exports become `default`.
  'esbuild-cjs-in-esm.mjs': `
var __getOwnPropNames = Object.getOwnPropertyNames;
var __commonJS = (cb, mod) => function __require() {
  return mod || (0, cb[__getOwnPropNames(cb)[0]])((mod = { exports: {} }).exports, mod), mod.exports;
};
var require_handler = __commonJS({
  "src/handler.js"(exports) {
    exports.handler = async (event) => ({ shape: 'esbuild-cjs-in-esm.mjs', event });
  }
});
export default require_handler();
`,
  // What esbuild emits with --format=cjs: getters on module.exports, plus the annotation Node's
  // cjs-module-lexer reads to find named exports.
  'esbuild-cjs.cjs': `"use strict";
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __export = (target, all) => { for (var name in all) __defProp(target, name, { get: all[name], enumerable: true }); };
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);
var src_exports = {};
__export(src_exports, { handler: () => handler });
module.exports = __toCommonJS(src_exports);
async function handler(event) { return { shape: 'esbuild-cjs.cjs', event }; }
0 && (module.exports = { handler });
`,
  'plain.cjs': `exports.handler = async (event) => ({ shape: 'plain.cjs', event });`,
  'module-exports-fn.cjs': `module.exports = async (event) => ({ shape: 'module-exports-fn.cjs', event });`,
  'openwhisk.cjs': `exports.main = (params) => ({ shape: 'openwhisk.cjs', event: params });`,
};

/**
 * TypeScript whose handler throws from a second module: line 3 of lib.ts (`new` at column 11) and
 * line 4 of handler.ts (`check` at column 19) are the frames a source map must restore.
 */
export const SOURCE_MAPPED: Record<string, string> = {
  'lib.ts': `export function check(order: { items?: number[] }): number {
  if (!order.items) {
    throw new RangeError('order has no items');
  }
  return order.items.length;
}
`,
  'handler.ts': `import { check } from './lib';

export async function handler(event: { items?: number[] }) {
  return { count: check(event) };
}
`,
};

/** `sources` bundled from `entry` as the builder bundles them, with the source map. */
export async function bundleOf(
  sources: Record<string, string>,
  entry: string,
): Promise<{ entry: string; code: string; map: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kindling-bundle-src-'));
  try {
    for (const [name, text] of Object.entries(sources)) await writeFile(join(dir, name), text);
    const out = await bundleEntry({ dir, entry, external: [], nodePaths: [], sourceMap: true });
    if (!out.map) throw new Error('the bundler made no source map');
    return { entry: out.entry, code: out.code.toString('utf8'), map: out.map.toString('utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Handlers that exercise one behaviour each, chosen by `event.op`. */
export const BEHAVIOUR = `
import { setImmediate as tick } from 'node:timers/promises';
let current = 0, max = 0, arrived = 0, release;
const gate = new Promise((resolve) => (release = resolve));

export default async (event, context) => {
  switch (event.op) {
    case 'echo': return event.value;
    case 'context': return {
      requestId: context.requestId, awsRequestId: context.awsRequestId, functionName: context.functionName,
      functionVersion: context.functionVersion, memoryLimitInMB: context.memoryLimitInMB, deadline: context.deadline,
      remaining: context.getRemainingTimeInMillis(), now: Date.now(),
      log: ['info', 'warn', 'error', 'debug'].map((level) => typeof context.log[level]),
    };
    case 'env': return { ...process.env };
    case 'hang': return new Promise(() => {});
    case 'spin': for (;;) {}
    case 'throw': { const err = new TypeError('bad type: ' + event.value); throw err; }
    case 'throw-string': throw 'just a string';
    case 'exit': process.exit(event.code);
    case 'crash-later': setTimeout(() => { throw new Error('idle boom'); }, 20); return 'armed';
    case 'reject-later': setTimeout(() => { Promise.reject(new Error('idle rejection')); }, 20); return 'armed';
    case 'heap-bomb': { const hold = []; for (;;) hold.push(new Array(100000).fill(hold.length)); }
    case 'buffer-bomb': {
      // Filled, so every page is really resident; capped at 8 GiB in case nothing stops it.
      const hold = [];
      for (let i = 0; i < 8192; i++) hold.push(Buffer.alloc(1 << 20, 1));
      return 'survived ' + hold.length + ' MiB';
    }
    case 'max-in-flight': {
      current++; max = Math.max(max, current);
      if (current >= event.expect) release();
      await gate;
      current--;
      return max;
    }
    case 'chatty': {
      if (++arrived >= event.expect) release();
      await gate;
      for (let i = 0; i < 5; i++) {
        console.log(event.id + ' log ' + i);
        console.error(event.id + ' error ' + i);
        context.log.warn(event.id + ' warn ' + i);
        await tick();
      }
      return event.id;
    }
    case 'console-flood': {
      const line = 'c'.repeat(1023);
      for (let i = 0; i < event.mib * 1024; i++) console.log(line);
      return 'flooded';
    }
    case 'stdout-flood': {
      const chunk = ('s'.repeat(1023) + '\\n').repeat(1024);
      for (let i = 0; i < event.mib; i++) process.stdout.write(chunk);
      return 'flooded';
    }
    case 'stdout-line': process.stdout.write(event.text + '\\n'); return 'written';
    case 'undefined': return undefined;
    case 'bigint': return { n: 10n };
    case 'cycle': { const a = {}; a.self = a; return a; }
    case 'huge': return 'x'.repeat(7 * 1024 * 1024);
    case 'response-json':
      return new Response(JSON.stringify({ hello: 'world' }), { status: 201, headers: { 'content-type': 'application/json', 'x-kind': 'json' } });
    case 'response-binary':
      return new Response(new Uint8Array([0, 255, 1, 128]), { headers: { 'content-type': 'application/octet-stream' } });
    default: throw new Error('unknown op ' + event.op);
  }
};
`;

/**
 * BEHAVIOUR for tiers without Node's APIs (the isolate tier): the same ops, reached through the Web
 * and Kindling APIs only. `env` comes from `context.env`; ops that only exist with Node's APIs
 * (exit, stdout-*, Response, unhandled rejections) are left out, and the buffer bomb allocates
 * Uint8Arrays instead of Buffers.
 */
export const PORTABLE_BEHAVIOUR = `
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
let current = 0, max = 0, arrived = 0, release;
const gate = new Promise((resolve) => (release = resolve));

export default async (event, context) => {
  switch (event.op) {
    case 'echo': return event.value;
    case 'context': return {
      requestId: context.requestId, awsRequestId: context.awsRequestId, functionName: context.functionName,
      functionVersion: context.functionVersion, memoryLimitInMB: context.memoryLimitInMB, deadline: context.deadline,
      remaining: context.getRemainingTimeInMillis(), now: Date.now(),
      log: ['info', 'warn', 'error', 'debug'].map((level) => typeof context.log[level]),
    };
    case 'env': return { ...context.env };
    case 'hang': return new Promise(() => {});
    case 'spin': for (;;) {}
    case 'throw': { const err = new TypeError('bad type: ' + event.value); throw err; }
    case 'throw-string': throw 'just a string';
    case 'crash-later': setTimeout(() => { throw new Error('idle boom'); }, 20); return 'armed';
    case 'heap-bomb': { const hold = []; for (;;) hold.push(new Array(100000).fill(hold.length)); }
    case 'buffer-bomb': {
      const hold = [];
      for (let i = 0; i < 8192; i++) hold.push(new Uint8Array(1 << 20).fill(1));
      return 'survived ' + hold.length + ' MiB';
    }
    case 'max-in-flight': {
      current++; max = Math.max(max, current);
      if (current >= event.expect) release();
      await gate;
      current--;
      return max;
    }
    case 'chatty': {
      if (++arrived >= event.expect) release();
      await gate;
      // Without async context, only context.log can tell concurrent invocations apart.
      for (let i = 0; i < 5; i++) {
        context.log.info(event.id + ' log ' + i);
        context.log.error(event.id + ' error ' + i);
        context.log.warn(event.id + ' warn ' + i);
        await tick();
      }
      return event.id;
    }
    case 'console-flood': {
      const line = 'c'.repeat(1023);
      for (let i = 0; i < event.mib * 1024; i++) console.log(line);
      return 'flooded';
    }
    case 'undefined': return undefined;
    case 'bigint': return { n: 10n };
    case 'cycle': { const a = {}; a.self = a; return a; }
    case 'huge': return 'x'.repeat(7 * 1024 * 1024);
    default: throw new Error('unknown op ' + event.op);
  }
};
`;

/** Creates temp dirs with files in them; `cleanup()` removes them all. */
export class FixtureDirs {
  private root: string | undefined;
  private seq = 0;

  /** Writes `files` into a fresh directory and returns its absolute path. */
  async make(files: Record<string, string>): Promise<string> {
    this.root ??= await mkdtemp(join(tmpdir(), 'kindling-sandbox-'));
    const dir = join(this.root, `fn-${++this.seq}`);
    await mkdir(dir, { recursive: true });
    for (const [name, source] of Object.entries(files)) await writeFile(join(dir, name), source);
    return dir;
  }

  /** Removes every directory made. */
  async cleanup(): Promise<void> {
    if (this.root) await rm(this.root, { recursive: true, force: true });
  }
}

let instanceSeq = 0;

/** A spec with test defaults (128 MiB, concurrency 1, 64 KiB of logs), overridable. */
export function specFor(codeDir: string, entry: string, overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  return {
    instanceId: `test-${process.pid}-${++instanceSeq}`,
    functionName: 'fixture',
    functionVersion: 7,
    codeDir,
    entry,
    env: {},
    memoryMb: 128,
    concurrency: 1,
    logLimitBytes: 64 * 1024,
    ...overrides,
  };
}
