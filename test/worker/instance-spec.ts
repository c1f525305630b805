/** The instance spec the pool tests give every fake instance (128 MiB, concurrency 1). */
import type { PreparedCode } from '../../src/worker/pool.js';
import type { InstanceSpec } from '../../src/sandbox/tier.js';

/** A `spec` dependency of a test pool for function `name`. */
export function testSpec(name: string): (instanceId: string, code: PreparedCode) => InstanceSpec {
  return (instanceId, code) => ({
    instanceId,
    functionName: name,
    functionVersion: 1,
    codeDir: code.codeDir,
    entry: code.entry,
    env: {},
    memoryMb: 128,
    concurrency: 1,
    logLimitBytes: 1024,
  });
}
