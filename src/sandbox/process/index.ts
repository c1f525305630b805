/** The `process` sandbox tier: what the worker pool imports. */
export { createProcessTier, defaultBaseEnv } from './process-tier.js';
export type { ProcessTierOptions } from './process-tier.js';
export type { ProcessInstance } from './process-instance.js';
export { heapLimitsFor, MIN_MEMORY_MB } from './memory.js';
export type { HeapLimits } from './memory.js';
