/**
 * On-demand fault-in for the ES module loader: the module customization hooks (`module.register`)
 * the runtime installs beside `fault-in.cts` when a lazily loaded function's entry is an ES module.
 * The ES loader resolves and reads files with Node's internals, past the patched `fs`, so:
 * - `resolve`: a bare specifier's package.json, and the files it names (`main`, `exports`), are
 *   fetched before Node resolves it; when resolution still fails for want of a file, the target
 *   (a relative or absolute specifier) or the whole package (a bare one) is fetched and resolution
 *   tried again;
 * - `load`: the resolved file is fetched before Node reads it.
 * The hooks run on the loader's own thread, so they keep their own copy of the pending list, ask
 * through the same descriptor, and wait without blocking (Node's main thread waits on them anyway).
 */
import fs from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  isString,
  packageName,
  packageTargets,
  readPendingList,
  relativeTo,
  sendFaultRequest,
} from './fault-in.cjs';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS module's own require
const Module = require('node:module') as { _nodeModulePaths(from: string): string[] };

/** What the runtime passes to `module.register` as `data`. */
export interface FaultInHooksData {
  root: string;
  listPath: string;
  /** The descriptor fault requests go to (one JSON array of paths per line). */
  faultFd: number;
  maxWaitMs?: number;
}

type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;
type NextLoad = (url: string, context: unknown) => Promise<unknown>;
interface ResolveContext {
  parentURL?: string;
}

let state:
  | {
      data: FaultInHooksData;
      pending: Set<string>;
      relative: (path: unknown) => string | undefined;
    }
  | undefined;

/** Called once by `module.register` with the runtime's data. */
export function initialize(data: FaultInHooksData): void {
  const pending = readPendingList(data.listPath);
  if (pending) state = { data, pending, relative: relativeTo(data.root) };
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<{ url: string }> {
  const s = state;
  if (!s || s.pending.size === 0 || specifier.startsWith('node:')) return nextResolve(specifier, context);
  const bare = isBare(specifier);
  const from = context.parentURL?.startsWith('file:') ? dirname(fileURLToPath(context.parentURL)) : undefined;
  const packages = bare && from ? packageDirs(specifier, from) : [];
  // A package's manifest, then the files it names, before Node looks (it would fall back silently).
  await ensure(packages.map((dir) => join(dir, 'package.json')));
  await ensure(packages.flatMap((dir) => packageTargets(join(dir, 'package.json')).map((t) => join(dir, t))));
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const wanted = bare ? packages : [targetPath(specifier, from)].filter(isString);
    const rels = wanted.map((p) => s.relative(p)).filter(isString);
    const under = [...s.pending].filter((p) => rels.some((r) => p === r || p.startsWith(`${r}/`)));
    if (!(await ensure(under.map((r) => join(s.data.root, r))))) throw err;
    return nextResolve(specifier, context);
  }
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<unknown> {
  if (state && state.pending.size > 0 && url.startsWith('file:')) await ensure([fileURLToPath(url)]);
  return nextLoad(url, context);
}

/** Fetches the pending ones of these absolute paths; true when any had to be asked for. */
async function ensure(paths: string[]): Promise<boolean> {
  const s = state;
  if (!s) return false;
  const missing: string[] = [];
  for (const p of paths) {
    const rel = s.relative(p);
    if (rel === undefined || !s.pending.has(rel)) continue;
    if (fs.existsSync(join(s.data.root, rel))) s.pending.delete(rel);
    else missing.push(rel);
  }
  if (missing.length === 0) return false;
  let left = missing;
  if (sendFaultRequest(s.data.faultFd, missing)) {
    const deadline = Date.now() + (s.data.maxWaitMs ?? 30_000);
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(2);
      left = left.filter((rel) => !fs.existsSync(join(s.data.root, rel)));
    }
  }
  for (const rel of missing) s.pending.delete(rel);
  if (left.length > 0) {
    fs.writeSync(
      2,
      `kindling runtime: ${left.join(', ')} (outside the image's startup working set) not read on demand\n`,
    );
  }
  return true;
}

function isBare(specifier: string): boolean {
  return !(
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier.startsWith('/') ||
    specifier.startsWith('file:') ||
    specifier.startsWith('data:')
  );
}

/** `<dir>/node_modules/<package>` for `from` and each directory above it, as `require` looks. */
function packageDirs(specifier: string, from: string): string[] {
  const pkg = packageName(specifier);
  return Module._nodeModulePaths(from).map((nm) => join(nm, pkg));
}

/** The file a relative, absolute or file: specifier names. */
function targetPath(specifier: string, from: string | undefined): string | undefined {
  if (specifier.startsWith('file:')) return fileURLToPath(specifier);
  if (specifier.startsWith('/')) return specifier;
  return from ? fileURLToPath(new URL(specifier, pathToFileURL(`${from}/`))) : undefined;
}

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED';
}
