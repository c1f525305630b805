/** The checks every tier makes on an InstanceSpec before starting it: one place, one wording. */
import { isAbsolute, relative, resolve } from 'node:path';
import { KindlingError } from '../core/errors.js';
import type { InstanceSpec, TierName } from './tier.js';

/**
 * Rejects specs a tier cannot run, with the fix in the message (KINDLING_INVALID_CONFIG), and returns
 * the entry's path relative to `codeDir` (POSIX separators).
 * @param minMemoryMb the tier's floor for `memoryMb`; `why` says where it comes from.
 */
export function checkInstanceSpec(spec: InstanceSpec, tier: TierName, minMemoryMb: number, why = ''): string {
  const bad = (message: string) =>
    new KindlingError('KINDLING_INVALID_CONFIG', message, { instanceId: spec.instanceId });
  if (!isAbsolute(spec.codeDir)) throw bad(`codeDir must be an absolute path, got "${spec.codeDir}"`);
  const inside = relative(spec.codeDir, resolve(spec.codeDir, spec.entry));
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw bad(`entry "${spec.entry}" must be a file inside codeDir ${spec.codeDir}`);
  }
  if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < minMemoryMb) {
    throw bad(
      `memoryMb ${spec.memoryMb} is below the ${tier} tier's minimum of ${minMemoryMb} MiB${why}; raise memoryMb`,
    );
  }
  if (!Number.isInteger(spec.concurrency) || spec.concurrency < 1) {
    throw bad(`concurrency must be an integer >= 1, got ${spec.concurrency}`);
  }
  if (!Number.isInteger(spec.logLimitBytes) || spec.logLimitBytes < 0) {
    throw bad(`logLimitBytes must be an integer >= 0, got ${spec.logLimitBytes}`);
  }
  if (spec.initTimeoutMs !== undefined && !(spec.initTimeoutMs > 0)) {
    throw bad(`initTimeoutMs must be > 0, got ${spec.initTimeoutMs}`);
  }
  return inside.split('\\').join('/');
}
