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
import { DESCENDANT_ENV, installFaultInHere, type DescendantConfig } from './fault-in-descendants.cjs';
import { isEsModule } from './fault-in.cjs';

const raw = process.env[DESCENDANT_ENV];
if (raw !== undefined && (isMainThread || parentPort !== null)) {
  const { esm, sharedEnv, nodeOptions, ...descendants } = JSON.parse(raw) as DescendantConfig;
  if (sharedEnv !== true) delete process.env[DESCENDANT_ENV];
  if (nodeOptions === null) delete process.env.NODE_OPTIONS;
  else if (nodeOptions !== undefined) process.env.NODE_OPTIONS = nodeOptions;
  // A child process's entry is its first argument (absent for `node -e` and the like).
  const entry = isMainThread ? process.argv[1] : undefined;
  installFaultInHere(
    descendants,
    () => esm ?? (entry !== undefined && isEsModule(resolve(entry), descendants.root)),
  );
}
