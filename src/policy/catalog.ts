/**
 * The keep-alive policies by name, as functions (`keepAlivePolicy` in kindling.json) and the
 * platform (`kindling up --keep-alive-policy`) select them. One place, so the live platform, the
 * simulator and the config validation agree on the names.
 */
import { costWindow, type CostWindowPolicy } from './cost-window.js';
import { hybridHistogram } from './hybrid-histogram.js';
import { fixedKeepAlive, type KeepAlivePolicy } from './keep-alive.js';

/** Every selectable policy. */
export const POLICY_NAMES = [
  'fixed',
  'hybrid-histogram',
  'greedy-dual',
  'cost-window',
  'hybrid-refined',
] as const;

/** A selectable policy name. */
export type PolicyName = (typeof POLICY_NAMES)[number];

/** True for a known policy name. */
export function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

/**
 * The keep-alive side of Greedy-Dual: nothing expires on a timer (`keepAliveMs` is infinite); the
 * host's {@link GreedyDualCache} evicts idle instances when memory is needed.
 */
export function greedyDualKeepAlive(): KeepAlivePolicy {
  return {
    name: 'greedy-dual',
    onInvocation() {
      // Frequencies live in the cache, which hears about every use.
    },
    keepAliveMs: () => Number.POSITIVE_INFINITY,
  };
}

/**
 * `hybrid-refined` (Kindling's own): the hybrid histogram's schedule for each idle instance,
 * refined by `cost-window`'s finer per-depth distribution: the cheapest schedule that is warm
 * wherever the hybrid's is (on that distribution) and holds no more idle time; the hybrid's own
 * schedule when none is, or while cost-window has fewer than four samples at the instance's depth
 * (cost-window's `baseline` option).
 */
export function hybridRefined(): CostWindowPolicy {
  return { ...costWindow({ baseline: hybridHistogram(), minSamples: 4 }), name: 'hybrid-refined' };
}

/** One instance of every policy, with default settings, keyed by name (each learns on its own). */
export function defaultPolicies(): Record<PolicyName, KeepAlivePolicy> {
  return {
    fixed: fixedKeepAlive(),
    'hybrid-histogram': hybridHistogram(),
    'greedy-dual': greedyDualKeepAlive(),
    'cost-window': costWindow(),
    'hybrid-refined': hybridRefined(),
  };
}
