/** The `process` sandbox tier: what the worker pool imports. */
export {
  createProcessTier,
  defaultBaseEnv,
  RUNTIME_SNAPSHOT_MODES,
  RUNTIME_SNAPSHOT_QUIET_MS,
} from './process-tier.js';
export type { ProcessTier, ProcessTierOptions } from './process-tier.js';
export type { StemCellPolicy } from './stem-cells.js';
export type { ProcessInstance } from './process-instance.js';
export { heapLimitsFor, MIN_MEMORY_MB } from './memory.js';
export type { HeapLimits } from './memory.js';
export type { RuntimeSnapshotMode } from './process-tier.js';
export type { RuntimeStartTrial } from './runtime-trial.js';
