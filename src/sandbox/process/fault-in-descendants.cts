/**
 * On-demand fault-in for what a lazily loaded function starts: its worker threads and child
 * processes get the checks of `fault-in.cts` too, installed by a preload (`fault-in-preload.cts`),
 * and ask on the same fault descriptor as the runtime.
 *
 * - **Worker threads** (`new Worker(…)`): `worker_threads.Worker` becomes a proxy of Node's (so
 *   `instanceof` and subclasses keep working) that fetches the thread's entry file, then starts the
 *   thread with `--require` the preload and its configuration in the thread's environment (for
 *   `SHARE_ENV`, the process's). A thread shares its process's descriptors. The flags a thread
 *   inherits lose V8's heap limits (process-wide, so the thread has them anyway), which Node
 *   refuses in a thread's `execArgv`; if the function's own flags for a thread are
 *   refused, the thread starts as Node would start it, without the checks, and says so on stderr.
 * - **Child processes** started by `spawn`, `fork`, `exec`, `execFile` (all of which go through
 *   `ChildProcess.prototype.spawn`) or `spawnSync`: every argument naming a pending file of the
 *   image is fetched before the child starts, whatever the child is; the child gets the fault
 *   descriptor at the same number in its stdio and, in its environment, the preload in
 *   `NODE_OPTIONS` (the preload puts the variable back as it was) with its configuration, so a
 *   Node child, and its own threads and children, read on demand as well.
 *
 * Not covered: `execSync` and `execFileSync` without a `stdio` option (Node copies their stderr to
 * the caller's only then, which an explicit stdio would change), a child whose stdio already uses
 * the fault descriptor's number, and files a child that is not Node finds by itself.
 */
import type * as ChildProcesses from 'node:child_process';
import fs from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as WorkerThreads from 'node:worker_threads';
import { installFaultIn, isEsModule, sendFaultRequest } from './fault-in.cjs';

/** Where the checks come from and where their requests go. */
export interface FaultInDescendants {
  /** The image's root directory. */
  root: string;
  /** The image's pending list (see `fault-in.cts`). */
  listPath: string;
  /** Longest wait for one fault, ms (the checks' default when absent). */
  maxWaitMs?: number;
  /** The preload that installs the checks (an absolute path, given to `--require`). */
  preload: string;
  /** The descriptor fault requests go to. */
  faultFd: number;
  /** The ES loader hooks' URL (`fault-in-hooks.cts`), registered where the entry is an ES module. */
  hooks: string;
}

/** What the preload reads from {@link DESCENDANT_ENV}. */
export interface DescendantConfig extends FaultInDescendants {
  /** A thread's entry is an ES module (a child process tells from its own `argv`). */
  esm?: boolean;
  /** The thread shares the process's environment (`SHARE_ENV`): leave the variable there. */
  sharedEnv?: boolean;
  /** A child's `NODE_OPTIONS` before the preload was added (null: it had none). */
  nodeOptions?: string | null;
}

/** The environment variable the configuration travels in. */
export const DESCENDANT_ENV = 'KINDLING_FAULT_IN';

/**
 * Installs the checks in this thread (the runtime's, or a thread's or child's through the preload),
 * spread to the threads and children it starts; when files are pending and `isEsEntry()` says the
 * entry is an ES module, registers the ES loader hooks as well. Only then: the hooks run on a
 * thread of their own, about 0.1 s to start (a CommonJS `.js` entry is imported too, but its own
 * `require`s are already checked). Returns how many files are pending.
 */
export function installFaultInHere(d: FaultInDescendants, isEsEntry: () => boolean): number {
  const pending = installFaultIn({
    root: d.root,
    listPath: d.listPath,
    ...(d.maxWaitMs !== undefined ? { maxWaitMs: d.maxWaitMs } : {}),
    request: (paths) => sendFaultRequest(d.faultFd, paths),
    extend: (ensurePath) => spreadFaultIn(d, ensurePath),
  });
  if (pending > 0 && isEsEntry()) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS module's own require
    const { register } = require('node:module') as { register(specifier: string, options: object): void };
    register(d.hooks, { data: { root: d.root, listPath: d.listPath, faultFd: d.faultFd } });
  }
  return pending;
}

/** Puts the checks in front of worker threads and child processes; `ensurePath` fetches a pending path. */
export function spreadFaultIn(d: FaultInDescendants, ensurePath: (path: unknown) => void): void {
  patchWorkers(d, ensurePath);
  patchChildProcesses(d, ensurePath);
}

function patchWorkers(d: FaultInDescendants, ensurePath: (path: unknown) => void): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only when an image is still arriving
  const workerThreads = require('node:worker_threads') as typeof WorkerThreads;
  const { SHARE_ENV } = workerThreads;
  const Worker = new Proxy(workerThreads.Worker, {
    construct(target, args: unknown[], newTarget) {
      const [filename, given] = args as [string | URL, WorkerThreads.WorkerOptions | undefined];
      const workerOptions = given ?? {};
      let entry: string | undefined;
      if (workerOptions.eval !== true) {
        if (typeof filename === 'string') entry = resolve(filename);
        else if (filename instanceof URL && filename.protocol === 'file:') entry = fileURLToPath(filename);
      }
      if (entry !== undefined) ensurePath(entry);
      const sharedEnv = workerOptions.env === SHARE_ENV;
      const config: DescendantConfig = {
        ...d,
        esm: entry !== undefined && isEsModule(entry, d.root),
        sharedEnv,
      };
      const value = JSON.stringify(config);
      let env = workerOptions.env;
      if (sharedEnv) process.env[DESCENDANT_ENV] = value;
      else env = { ...((env as NodeJS.Dict<string> | undefined) ?? process.env), [DESCENDANT_ENV]: value };
      const execArgv = [...(workerOptions.execArgv ?? threadArgv(process.execArgv)), '--require', d.preload];
      try {
        return Reflect.construct(
          target,
          [filename, { ...workerOptions, env, execArgv }, ...args.slice(2)],
          newTarget,
        );
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw err;
        fs.writeSync(
          2,
          `kindling runtime: a worker thread starts without on-demand fault-in: ${(err as Error).message}\n`,
        );
        return Reflect.construct(target, args, newTarget);
      }
    },
  });
  (workerThreads as { Worker: unknown }).Worker = Worker;
}

/**
 * The flags a thread inherits when its creator names none, as a list it may be given explicitly:
 * without V8's heap limits, which Node refuses in a thread's `execArgv` (they are process-wide, so
 * the thread has them anyway). The runtime has already dropped its snapshot flag.
 */
export function threadArgv(argv: readonly string[]): string[] {
  return argv.filter((flag) => !/^--(max-old-space-size|max-semi-space-size|stack-size)(=|$)/.test(flag));
}

/** What `ChildProcess.prototype.spawn` receives (Node's normalised spawn options). */
interface SpawnInternals {
  file: string;
  args?: readonly unknown[];
  cwd?: string;
  envPairs?: string[];
  stdio?: unknown;
}

type Stdio = unknown[];

function patchChildProcesses(d: FaultInDescendants, ensurePath: (path: unknown) => void): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- only when an image is still arriving
  const childProcess = require('node:child_process') as typeof ChildProcesses;
  /** Fetches what the arguments name; the stdio with the fault descriptor, or undefined when taken. */
  const prepare = (args: readonly unknown[], cwd: string | undefined, stdio: unknown): Stdio | undefined => {
    for (const arg of args) {
      if (typeof arg === 'string' && arg !== '' && !arg.startsWith('-'))
        ensurePath(isAbsolute(arg) ? arg : resolve(cwd ?? process.cwd(), arg));
    }
    const list: Stdio =
      typeof stdio === 'string' ? [stdio, stdio, stdio] : Array.isArray(stdio) ? [...stdio] : [];
    if (list[d.faultFd] !== undefined && list[d.faultFd] !== null) return undefined;
    list[d.faultFd] = d.faultFd;
    // Holes before it are what Node makes of an absent entry: pipes for 0-2, nothing after.
    for (let i = 0; i < d.faultFd; i++) list[i] ??= i < 3 ? 'pipe' : 'ignore';
    return list;
  };
  /** The child's environment with the preload and its configuration. */
  const withPreload = (env: NodeJS.Dict<string>): NodeJS.Dict<string> => {
    const before = env.NODE_OPTIONS;
    const config: DescendantConfig = { ...d, nodeOptions: before ?? null };
    return {
      ...env,
      NODE_OPTIONS: `${before ?? ''} --require ${JSON.stringify(d.preload)}`.trim(),
      [DESCENDANT_ENV]: JSON.stringify(config),
    };
  };

  const proto = childProcess.ChildProcess.prototype as unknown as { spawn(options: SpawnInternals): unknown };
  const spawn = proto.spawn;
  proto.spawn = function (this: unknown, options: SpawnInternals): unknown {
    const stdio = prepare([options.file, ...(options.args?.slice(1) ?? [])], options.cwd, options.stdio);
    if (!stdio) return spawn.call(this, options);
    const env = withPreload(fromPairs(options.envPairs ?? []));
    return spawn.call(this, { ...options, stdio, envPairs: toPairs(env) });
  };

  const exported = childProcess as unknown as Record<string, AnyFn>;
  const patchSync = (name: 'spawnSync' | 'execSync' | 'execFileSync', argsAt: number | undefined) => {
    const original = exported[name]!;
    exported[name] = function (this: unknown, ...call: unknown[]): unknown {
      // The options are the last plain object, after the command and its optional argument list.
      let at = call.findLastIndex((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
      if (at < 1) at = -1;
      const options = (at >= 0 ? call[at] : {}) as ChildProcesses.SpawnSyncOptions;
      if (name !== 'spawnSync' && options.stdio === undefined) return original.apply(this, call);
      const args = argsAt !== undefined && Array.isArray(call[argsAt]) ? (call[argsAt] as unknown[]) : [];
      const stdio = prepare(
        name === 'execSync' ? [] : [call[0], ...args],
        typeof options.cwd === 'string' ? options.cwd : undefined,
        options.stdio,
      );
      if (!stdio) return original.apply(this, call);
      const next = { ...options, stdio, env: withPreload(options.env ?? process.env) };
      const rest = [...call];
      if (at >= 0) rest[at] = next;
      else rest.push(next);
      return original.apply(this, rest);
    };
  };
  patchSync('spawnSync', 1);
  patchSync('execSync', undefined);
  patchSync('execFileSync', 1);
}

type AnyFn = (...args: unknown[]) => unknown;

function fromPairs(pairs: readonly string[]): NodeJS.Dict<string> {
  const env: NodeJS.Dict<string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

function toPairs(env: NodeJS.Dict<string>): string[] {
  return Object.entries(env)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
}
