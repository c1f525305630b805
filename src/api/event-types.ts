/**
 * What the live feed (`GET /v1/events`) sends, shared by the server (event-feed.ts) and the
 * dashboard (src/ui): types and one pure function, with no imports a browser bundle could not take.
 */
import type { InstanceState } from '../core/metrics.js';
import { emptyPhases, type Phases } from '../core/phases.js';

export type { InstanceState };

/** One finished invocation, as the feed sends it. */
export interface InvocationSummary {
  id: string;
  tenant: string;
  fn: string;
  version: number;
  mode: string;
  status: string;
  cold: boolean;
  startPath?: string;
  tier?: string;
  totalMs: number;
  phases: Phases;
  errorCode?: string;
  createdAt: number;
  finishedAt: number;
}

/** Instance counts by tier, then state. */
export type InstanceCounts = Record<string, Record<InstanceState, number>>;

/** What a subscriber receives every tick. */
export interface Tick {
  /** Time of the tick, epoch ms. */
  t: number;
  tickMs: number;
  /** Finished in this tick. */
  invocations: number;
  cold: number;
  errors: number;
  /** Over the last WINDOW_MS. */
  window: { ms: number; invocations: number; cold: number; p50: number; p99: number };
  instances: InstanceCounts;
  /** Per function (`tenant/name`), over the last WINDOW_MS: [invocations, cold, errors]. */
  functions: Record<string, [number, number, number]>;
  /** The newest invocations of this tick, newest last (at most RECENT_PER_TICK). */
  recent: InvocationSummary[];
  /** Invocations of this tick not in `recent`. */
  omitted: number;
}

/** The parts of an invocation record (or of a finished invocation) a summary is made from. */
export interface SummarySource {
  id: string;
  tenant: string;
  functionName: string;
  version: number;
  mode: string;
  status: string;
  cold?: boolean;
  startPath?: string;
  tier?: string;
  totalMs?: number;
  phases?: Phases;
  error?: { code: string };
  createdAt: number;
  finishedAt?: number;
}

/** The summary the feed sends of a finished invocation; `now` stands in for a missing finish time. */
export function summarize(r: SummarySource, now: number): InvocationSummary {
  const s: InvocationSummary = {
    id: r.id,
    tenant: r.tenant,
    fn: r.functionName,
    version: r.version,
    mode: r.mode,
    status: r.status,
    cold: r.cold === true,
    totalMs: r.totalMs ?? 0,
    phases: r.phases ?? emptyPhases(),
    createdAt: r.createdAt,
    finishedAt: r.finishedAt ?? now,
  };
  if (r.startPath) s.startPath = r.startPath;
  if (r.tier) s.tier = r.tier;
  if (r.error) s.errorCode = r.error.code;
  return s;
}
