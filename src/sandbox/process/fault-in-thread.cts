/**
 * The fault-in preload of a worker thread a lazily loaded function starts (`--require`d by the
 * `Worker` that `fault-in.cts` puts in place of Node's): it installs the same checks in the thread,
 * asking through the process's fault descriptor, and, for an ES module entry, the loader hooks. In
 * the main thread, in Node's own loader-hooks thread (which inherits a thread's flags but has no
 * `parentPort`: checks there would answer the hooks' own existence tests), or without the
 * configuration, it does nothing.
 */
import { parentPort } from 'node:worker_threads';
import { installFaultIn, sendFaultRequest, THREAD_ENV, type ThreadFaultInConfig } from './fault-in.cjs';

const raw = process.env[THREAD_ENV];
if (parentPort !== null && raw !== undefined) {
  const config = JSON.parse(raw) as ThreadFaultInConfig;
  if (!config.sharedEnv) delete process.env[THREAD_ENV];
  const { faultFd, hooks } = config.threads;
  const options = {
    root: config.root,
    listPath: config.listPath,
    request: (paths: string[]) => sendFaultRequest(faultFd, paths),
    threads: config.threads,
    ...(config.maxWaitMs !== undefined ? { maxWaitMs: config.maxWaitMs } : {}),
  };
  if (installFaultIn(options) > 0 && config.esm) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS preload's own require
    const { register } = require('node:module') as { register(specifier: string, options: object): void };
    register(hooks, { data: { root: config.root, listPath: config.listPath, faultFd } });
  }
}
