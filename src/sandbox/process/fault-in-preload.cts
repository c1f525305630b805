/**
 * The fault-in preload of a worker thread or child process a lazily loaded function starts
 * (`--require`d; see `fault-in-descendants.cts`): it installs the checks of `fault-in.cts` there,
 * asking on the fault descriptor its configuration names, and the ES loader hooks when the entry is
 * an ES module. It does nothing without the configuration, and nothing in Node's own loader-hooks
 * thread (a thread with no `parentPort`, which inherits the flags of the thread that registered the
 * hooks: checks there would answer the hooks' own existence tests).
 */
import { resolve } from 'node:path';
import { isMainThread, parentPort } from 'node:worker_threads';
import { DESCENDANT_ENV, spreadFaultIn, type DescendantConfig } from './fault-in-descendants.cjs';
import { installFaultIn, isEsModule, sendFaultRequest } from './fault-in.cjs';

const raw = process.env[DESCENDANT_ENV];
if (raw !== undefined && (isMainThread || parentPort !== null)) {
  const { esm, sharedEnv, nodeOptions, ...descendants } = JSON.parse(raw) as DescendantConfig;
  if (sharedEnv !== true) delete process.env[DESCENDANT_ENV];
  if (nodeOptions === null) delete process.env.NODE_OPTIONS;
  else if (nodeOptions !== undefined) process.env.NODE_OPTIONS = nodeOptions;
  const { root, listPath, faultFd, hooks } = descendants;
  const pending = installFaultIn({
    root,
    listPath,
    ...(descendants.maxWaitMs !== undefined ? { maxWaitMs: descendants.maxWaitMs } : {}),
    request: (paths) => sendFaultRequest(faultFd, paths),
    extend: (ensurePath) => spreadFaultIn(descendants, ensurePath),
  });
  // A child process's entry is its first argument (absent for `node -e` and the like).
  const entry = isMainThread ? process.argv[1] : undefined;
  const isEsm = esm ?? (entry !== undefined && isEsModule(resolve(entry), root));
  if (pending > 0 && isEsm) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload's own require
    const { register } = require('node:module') as { register(specifier: string, options: object): void };
    register(hooks, { data: { root, listPath, faultFd } });
  }
}
