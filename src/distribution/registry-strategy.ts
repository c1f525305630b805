/**
 * The baseline strategy: every host fetches every block it needs from the registry ("on-demand" in
 * FaaSNet's evaluation). Keeps no state: membership changes never move a source.
 */
import { checkPositiveInt } from './check-options.js';
import {
  REGISTRY_ORIGIN,
  type BlockOrigin,
  type DistributionStrategy,
  type StrategyFactory,
} from './strategy.js';

/** Options of {@link registryStrategy}. */
export interface RegistryStrategyInit {
  /** Block fetches one host runs at once for one function; default 8 (as `materializeImage`). */
  maxConcurrentFetches?: number;
}

const REGISTRY_ONLY: readonly BlockOrigin[] = Object.freeze([REGISTRY_ORIGIN]);

/** Builds the `registry` strategy. */
export function registryStrategy(init: RegistryStrategyInit = {}): StrategyFactory {
  return () => new RegistryStrategy(init.maxConcurrentFetches ?? 8);
}

/** Every block from the registry. */
export class RegistryStrategy implements DistributionStrategy {
  readonly name = 'registry' as const;
  readonly rarestFirst = false;

  constructor(readonly maxConcurrentFetches: number) {
    checkPositiveInt('maxConcurrentFetches', maxConcurrentFetches);
  }

  join(): readonly [] {
    return [];
  }
  remove(): readonly [] {
    return [];
  }
  leave(): readonly [] {
    return [];
  }
  sourcesFor(): readonly BlockOrigin[] {
    return REGISTRY_ONLY;
  }
  blockStored(): void {
    // The registry holds everything; who else does is of no use to this strategy.
  }
  sourceFailed(): void {
    // There is no other source to prefer.
  }
  holders(): number {
    return 0;
  }
}
