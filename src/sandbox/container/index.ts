/** The `container` sandbox tier: what the worker pool imports. */
export { createContainerTier } from './container-tier.js';
export type { ContainerTier, ContainerTierOptions } from './container-tier.js';
export type { ContainerInstance } from './container-instance.js';
