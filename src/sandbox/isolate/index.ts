/** The `isolate` sandbox tier: what the worker pool and the deployer import. */
export { createIsolateTier, MIN_ISOLATE_MEMORY_MB } from './isolate-tier.js';
export type { IsolateTierOptions } from './isolate-tier.js';
export type { IsolateInstance } from './isolate-instance.js';
export { findNodeBuiltins } from './builtins-check.js';
