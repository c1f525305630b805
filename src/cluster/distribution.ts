/**
 * The control plane's image distribution: every strategy on offer, the cluster default first, and
 * each function's own choice (`distribution` in its configuration) looked up by version key.
 */
import { systemClock, type Clock } from '../core/clock.js';
import type { FunctionStore } from '../control/functions.js';
import { DistributionHub } from '../distribution/distribution-hub.js';
import { registryStrategy } from '../distribution/registry-strategy.js';
import type { StrategyFactory, StrategyName } from '../distribution/strategy.js';
import { swarmStrategy } from '../distribution/swarm-strategy.js';
import { TreeStrategy, treeStrategy } from '../distribution/tree-strategy.js';
import type { FtManager } from '../distribution/ft-manager.js';
import { TransferProgress } from '../distribution/transfer-progress.js';

/** Blocks a tree host keeps in flight to its parent in cluster mode (see TreeStrategyInit.pipelineDepth). */
export const TREE_PIPELINE_DEPTH = 4;

const FACTORIES: Record<StrategyName, StrategyFactory> = {
  registry: registryStrategy(),
  swarm: swarmStrategy(),
  // Four blocks in flight to the parent: see TreeStrategyInit.pipelineDepth.
  tree: treeStrategy({ pipelineDepth: TREE_PIPELINE_DEPTH }),
};

export const STRATEGY_NAMES = Object.keys(FACTORIES) as StrategyName[];

export function createDistributionHub(
  defaultStrategy: StrategyName,
  functions: FunctionStore,
  clock: Clock = systemClock,
): { hub: DistributionHub; ft: FtManager | undefined; progress: TransferProgress } {
  const order = [defaultStrategy, ...STRATEGY_NAMES.filter((n) => n !== defaultStrategy)];
  // Strategies get no transport: on the control plane they only plan; hosts move the bytes.
  const components = { clock, transport: { fetchBlock: () => Promise.reject(new Error('planning only')) } };
  const strategies = order.map((name) => FACTORIES[name](components));
  const tree = strategies.find((s): s is TreeStrategy => s instanceof TreeStrategy);
  const progress = new TransferProgress();
  const hub = new DistributionHub({
    strategies,
    clock,
    progress,
    strategyFor: (fn) => {
      // Distribution keys are version keys: tenant/name@version.
      const m = /^([^/]+)\/(.+)@(\d+)$/.exec(fn);
      if (!m) return undefined;
      try {
        return functions.getVersion(m[1]!, m[2]!, Number(m[3])).config.distribution;
      } catch {
        return undefined;
      }
    },
  });
  return { hub, ft: tree?.ft, progress };
}
