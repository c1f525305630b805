/**
 * On-demand fault-in for a lazily loaded image, inside the runtime. A lazy start writes only the
 * files of the image's startup working set before the sandbox starts; the rest arrive in the
 * background. A function that reads one of the others before it has arrived would see it missing,
 * so this module puts a check in front of the ways Node code reaches files:
 *
 * - the `fs` calls that open, read, stat, copy or list a path (sync, callback and promise forms,
 *   recursive listings; ES modules' named imports of `node:fs` are re-synced), and
 * - CommonJS module resolution (`require`, `require.resolve`), whose file probes Node makes
 *   internally: the candidates a request could resolve to, and the files a candidate package.json
 *   names (`main`, `exports`), are fetched first; when resolution still fails, every pending file
 *   under the request's directory or package; and before the module loads, the package.json files
 *   above it (Node reads each once for the module's "type" and remembers a missing one);
 * - native addons: `process.dlopen` (which `require` of a `.node` file calls, and some loaders call
 *   directly) fetches its file first;
 * - worker threads and child processes the function starts, through `options.extend`: see
 *   `fault-in-descendants.cts`.
 *
 * A path under the image root that is still pending is asked for (the host fetches its blocks
 * ahead of the background and renames the file into place whole) and the call waits until it
 * appears, blocking the thread: Node's file calls are synchronous underneath `require`, so this is
 * the one wait that fits all of them. A path that is not pending costs one Set lookup.
 *
 * The request goes out through `options.request` (the runtime writes it to its own descriptor). A
 * file that does not arrive within `maxWaitMs` is reported on stderr and no longer waited for.
 *
 * The ES module loader resolves and reads past `fs`: for an ES module entry the runtime also
 * registers `fault-in-hooks.cts`. Not covered: `require.resolve` with its own `paths`, and what
 * `fault-in-descendants.cts` lists.
 */
import fs from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Options of {@link installFaultIn}. */
export interface FaultInOptions {
  /** The image's root directory. */
  root: string;
  /** The JSON array of pending paths relative to `root`; when it is gone nothing is pending. */
  listPath: string;
  /** Asks the host for these files (relative paths); false when the request could not be sent. */
  request(paths: string[]): boolean;
  /** Longest wait for one fault, ms; then the call goes ahead (and finds the file missing). Default 30 000. */
  maxWaitMs?: number;
  /** Pause between checks for the files, ms; default 2. */
  pollMs?: number;
  /**
   * Called with the path check before the patches are published to ES modules: where more checks
   * go in (`fault-in-descendants.cts` puts them in front of worker threads and child processes).
   */
  extend?(ensurePath: (path: unknown) => void): void;
}

type AnyFn = (...args: unknown[]) => unknown;

/** `fs` functions whose first argument is a path to one file. */
const PATH_CALLS = [
  'readFileSync',
  'openSync',
  'statSync',
  'lstatSync',
  'existsSync',
  'accessSync',
  'realpathSync',
  'createReadStream',
  'readFile',
  'open',
  'stat',
  'lstat',
  'access',
  'realpath',
  'exists',
  'copyFileSync',
  'copyFile',
  'openAsBlob',
] as const;
const PROMISE_PATH_CALLS = ['readFile', 'open', 'stat', 'lstat', 'access', 'realpath', 'copyFile'] as const;
const DIR_CALLS = ['readdirSync', 'readdir', 'opendirSync', 'opendir'] as const;
/** What a CommonJS request for `X` may resolve to, beside `X` itself. */
const RESOLVE_SUFFIXES = [
  '',
  '.js',
  '.json',
  '.node',
  '.cjs',
  '/package.json',
  '/index.js',
  '/index.json',
  '/index.node',
];

/**
 * Installs the checks when `listPath` names pending files; returns how many are pending (0: the
 * image is complete and nothing was installed).
 */
export function installFaultIn(options: FaultInOptions): number {
  const pending = readPendingList(options.listPath);
  if (!pending) return 0;
  const relative = relativeTo(options.root);
  const exists = fs.existsSync;
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const pollMs = options.pollMs ?? 2;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let byDir: Map<string, string[]> | undefined;
  let dirs: Set<string> | undefined;

  /** Brings these pending files in (others are skipped); true when any had to be fetched. */
  const ensure = (rels: Iterable<string>): boolean => {
    const missing: string[] = [];
    for (const rel of rels) {
      if (!pending.has(rel)) continue;
      if (exists(join(options.root, rel))) pending.delete(rel);
      else missing.push(rel);
    }
    if (missing.length === 0) return false;
    let left = missing;
    let why: string;
    if (options.request(missing)) {
      const deadline = Date.now() + maxWaitMs;
      while (left.length > 0 && Date.now() < deadline) {
        Atomics.wait(sleeper, 0, 0, pollMs);
        left = left.filter((rel) => !exists(join(options.root, rel)));
      }
      why = `the host did not deliver ${left.length === 1 ? 'it' : 'them'} within ${maxWaitMs} ms`;
    } else {
      why = 'the request could not be sent to the host';
    }
    // Arrived, or given up on: either way no later call waits for them again.
    for (const rel of missing) pending.delete(rel);
    if (left.length > 0) {
      fs.writeSync(
        2,
        `kindling runtime: ${left.join(', ')} (outside the image's startup working set) not read on demand: ${why}\n`,
      );
    }
    return true;
  };

  const ensurePath = (path: unknown): void => {
    if (pending.size === 0) return;
    const rel = relative(path);
    if (rel !== undefined && pending.has(rel)) ensure([rel]);
  };

  /** Every pending file directly in `dir`, or anywhere under it for a recursive listing. */
  const ensureListing = (path: unknown, options?: unknown): void => {
    if (pending.size === 0) return;
    const rel = relative(path);
    if (rel === undefined) return;
    if ((options as { recursive?: unknown } | undefined)?.recursive === true) {
      ensure([...pending].filter((p) => rel === '' || p.startsWith(`${rel}/`)));
      return;
    }
    byDir ??= groupByDir(pending);
    const files = byDir.get(rel);
    if (files) ensure(files);
  };

  const patch = (
    target: Record<string, unknown>,
    name: string,
    check: (path: unknown, options: unknown) => void,
  ): void => {
    const original = target[name] as AnyFn | undefined;
    if (typeof original !== 'function') return;
    const wrapped = function (this: unknown, path: unknown, ...rest: unknown[]): unknown {
      check(path, rest[0]);
      return original.call(this, path, ...rest);
    };
    // Keep attached members (`realpathSync.native`, `exists[promisify.custom]`).
    for (const key of Reflect.ownKeys(original)) {
      if (key === 'length' || key === 'name' || key === 'prototype') continue;
      Object.defineProperty(wrapped, key, Object.getOwnPropertyDescriptor(original, key)!);
    }
    target[name] = wrapped;
  };

  const fsObject = fs as unknown as Record<string, unknown>;
  for (const name of PATH_CALLS) patch(fsObject, name, ensurePath);
  for (const name of DIR_CALLS) patch(fsObject, name, ensureListing);
  const promises = fs.promises as unknown as Record<string, unknown>;
  for (const name of PROMISE_PATH_CALLS) patch(promises, name, ensurePath);
  patch(promises, 'readdir', ensureListing);
  patch(promises, 'opendir', ensureListing);

  const dlopen = process.dlopen;
  process.dlopen = function (this: unknown, module: object, filename: string, ...rest: unknown[]): void {
    ensurePath(filename);
    (dlopen as AnyFn).call(this, module, filename, ...rest);
  };
  options.extend?.(ensurePath);

  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only when an image is still arriving
  const Module = require('node:module') as ModuleInternals;
  // ES modules' named imports (`import { readFileSync } from 'node:fs'`, `{ Worker }`) see the patches.
  Module.syncBuiltinESMExports();
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (this: unknown, request: unknown, parent: unknown, ...rest: unknown[]) {
    const call = (): unknown => resolveFilename.call(this, request, parent, ...rest);
    if (pending.size === 0 || typeof request !== 'string' || Module.isBuiltin(request)) return call();
    const from = dirname((parent as { filename?: string } | undefined)?.filename ?? join(process.cwd(), 'x'));
    const bases = candidateBases(request, from, Module);
    // Only bases in or beside a directory that holds pending files can gain a file from a fault.
    const held = (dirs ??= ancestorDirs(pending));
    const within = (rel: string): boolean => held.has(rel) || held.has(parentOf(rel));
    const wanted: string[] = [];
    const selves = bases
      .map((b) => relative(b.path))
      .filter(isString)
      .filter(within);
    for (const self of selves) {
      for (const suffix of RESOLVE_SUFFIXES) if (pending.has(self + suffix)) wanted.push(self + suffix);
    }
    ensure(wanted);
    // A directory's package.json names its entry (`main`, `exports`): those files, with the suffixes.
    const named: string[] = [];
    for (const self of selves) {
      for (const target of packageTargets(join(options.root, self, 'package.json'))) {
        const rel = relative(join(options.root, self, target));
        if (rel !== undefined) for (const suffix of RESOLVE_SUFFIXES) named.push(rel + suffix);
      }
    }
    ensure(named);
    let resolved: unknown;
    try {
      resolved = call();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw err;
      // Whatever else the package's own resolution needs: the whole directory.
      const under = bases.map((b) => relative(b.dir)).filter(isString);
      if (!ensure([...pending].filter((p) => under.some((u) => p.startsWith(`${u}/`))))) throw err;
      resolved = call();
    }
    // Node reads the package.json of the directories above a module it loads (its "type") and
    // remembers one that is missing: those must be there before the module loads.
    const rel = relative(resolved);
    if (rel !== undefined) {
      const scopes: string[] = [];
      for (let dir = parentOf(rel); ; dir = parentOf(dir)) {
        const manifest = dir === '' ? 'package.json' : `${dir}/package.json`;
        if (pending.has(manifest)) scopes.push(manifest);
        if (dir === '') break;
      }
      ensure(scopes);
    }
    return resolved;
  };
  return pending.size;
}

/**
 * Writes one fault request (a JSON array of paths, one line) to `fd`, synchronously: the caller
 * waits for its files. False when nobody listens there (no such descriptor) or the host is gone.
 */
export function sendFaultRequest(fd: number, paths: string[]): boolean {
  const line = Buffer.from(`${JSON.stringify(paths)}\n`);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 5000;
  for (let at = 0; at < line.length;) {
    try {
      at += fs.writeSync(fd, line, at);
    } catch (err) {
      // A non-blocking socket whose buffer is full says EAGAIN until the host reads.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) return false;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
  return true;
}

/**
 * Whether Node loads `file` as an ES module: `.mjs`, or `.js` under a package.json (the nearest,
 * looking no higher than `root`) whose "type" is "module".
 */
export function isEsModule(file: string, root: string): boolean {
  if (file.endsWith('.mjs')) return true;
  if (!file.endsWith('.js')) return false;
  const top = resolve(root);
  for (let dir = dirname(resolve(file)); ; dir = dirname(dir)) {
    try {
      return (
        (JSON.parse(fs.readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: unknown }).type ===
        'module'
      );
    } catch {
      // none here (or not JSON, which Node would refuse as well): look further up
    }
    if (dir === top || dirname(dir) === dir) return false;
  }
}

/** The pending paths a list file names, or undefined when it is gone (the image is complete) or empty. */
export function readPendingList(listPath: string): Set<string> | undefined {
  let list: unknown;
  try {
    list = JSON.parse(fs.readFileSync(listPath, 'utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(list) || list.length === 0) return undefined;
  return new Set(list.filter((p): p is string => typeof p === 'string'));
}

/**
 * Maps a path (string, Buffer or file URL) to its path relative to `root` (by its own name or its
 * real path), '' for the root itself, or undefined outside it.
 */
export function relativeTo(root: string): (path: unknown) => string | undefined {
  const roots = [...new Set([resolve(root), realpathOr(resolve(root))])].map((r) => r + sep);
  return (path) => {
    let abs: string;
    if (typeof path === 'string') abs = resolve(path);
    else if (path instanceof URL) {
      if (path.protocol !== 'file:') return undefined;
      abs = fileURLToPath(path);
    } else if (Buffer.isBuffer(path)) abs = resolve(path.toString());
    else return undefined;
    for (const r of roots) {
      if (abs.startsWith(r)) return abs.slice(r.length);
      if (abs + sep === r) return '';
    }
    return undefined;
  };
}

/** The files a package.json names as its entry points (`main`, the strings in `exports`), if any. */
export function packageTargets(path: string): string[] {
  let pkg: { main?: unknown; exports?: unknown };
  try {
    pkg = JSON.parse(fs.readFileSync(path, 'utf8')) as typeof pkg;
  } catch {
    return []; // none, or not readable as JSON: Node's resolution says what is wrong with it
  }
  const out: string[] = typeof pkg.main === 'string' ? [pkg.main] : [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.startsWith('./') && !v.includes('*')) out.push(v);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === 'object' && v !== null) Object.values(v).forEach(walk);
  };
  walk(pkg.exports);
  return out;
}

/** The parts of `node:module` this uses (`_resolveFilename` is what `require` resolves through). */
interface ModuleInternals {
  _resolveFilename: AnyFn;
  _nodeModulePaths(from: string): string[];
  isBuiltin(name: string): boolean;
  syncBuiltinESMExports(): void;
}

/**
 * Where a CommonJS request could be found: `path` (probed with the resolution suffixes) and `dir`,
 * the directory whose files it may resolve to (the package root for a bare specifier).
 */
function candidateBases(
  request: string,
  from: string,
  Module: ModuleInternals,
): Array<{ path: string; dir: string }> {
  if (
    request.startsWith('./') ||
    request.startsWith('../') ||
    request === '.' ||
    request === '..' ||
    isAbsolute(request)
  ) {
    const path = resolve(from, request);
    return [{ path, dir: path }];
  }
  const pkg = packageName(request);
  return Module._nodeModulePaths(from).flatMap((nm) => [
    { path: join(nm, request), dir: join(nm, pkg) },
    // `exports` and `main` live in the package root's package.json.
    ...(pkg === request ? [] : [{ path: join(nm, pkg), dir: join(nm, pkg) }]),
  ]);
}

function groupByDir(paths: Iterable<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of paths) {
    const dir = parentOf(p);
    const list = out.get(dir) ?? [];
    list.push(p);
    out.set(dir, list);
  }
  return out;
}

/** Every directory that holds a pending file, at any depth ('' is the root). */
function ancestorDirs(paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const p of paths) {
    for (let dir = parentOf(p); !out.has(dir); dir = parentOf(dir)) {
      out.add(dir);
      if (dir === '') break;
    }
  }
  return out;
}

/** The parent of a relative path ('' for one at the root, and for the root itself). */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

function realpathOr(path: string): string {
  try {
    return fs.realpathSync(path);
  } catch {
    return path;
  }
}

/** The package a bare specifier names: `a` for `a/b`, `@s/a` for `@s/a/b`. */
export function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

export function isString(v: unknown): v is string {
  return typeof v === 'string';
}
