/**
 * The invocation path shared by sync calls, HTTP triggers and the async dispatcher: place, run on a
 * worker, assemble the phases, record, count.
 */
import type { Clock } from '../core/clock.js';
import { toKindlingError, type KindlingError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import { emptyPhases, roundMs, roundPhases, type Phases } from '../core/phases.js';
import type { FunctionVersion } from './functions.js';
import type { Completion, InvocationMode } from './invocations.js';
import type { Scheduler } from './scheduler.js';
import type { WorkerResult } from '../worker/agent.js';

/** An invocation ready to run. */
export interface Execution {
  id: string;
  version: FunctionVersion;
  event: unknown;
  mode: InvocationMode;
  /** Milliseconds already spent before the invoker got the request (parsing, auth, durable queue). */
  queuedMs: number;
  /** Admin placement: run on this host. */
  host?: string;
  /**
   * Checks a successful result before it counts as one (an HTTP trigger's response that cannot be
   * sent): an error returned makes the invocation failed, in its record and its metrics.
   */
  vetResult?: (result: unknown) => KindlingError | undefined;
}

/** Hosts tried for one invocation before giving up (the first plus retries on other hosts). */
const MAX_ATTEMPTS = 3;

/** The outcome plus everything the record, the response headers and the metrics need. */
export interface ExecutionResult {
  completion: Completion & { phases: Phases; totalMs: number };
  ok: boolean;
  /** The host that ran it (the last one tried, when it failed over). */
  host?: string;
  result?: unknown;
  error?: KindlingError;
}

export class Invoker {
  constructor(private readonly deps: { scheduler: Scheduler; metrics: Metrics; clock: Clock }) {}

  /** Runs one invocation; never throws for function failures (they come back with ok=false). Throws for refusals (429). */
  async execute(exec: Execution): Promise<ExecutionResult> {
    const { clock, metrics } = this.deps;
    const startedAt = clock.now();
    const t0 = clock.monotonic();
    const phases = emptyPhases();
    phases.queue = exec.queuedMs;
    let completion: ExecutionResult['completion'];
    let error: KindlingError | undefined;
    let result: unknown;
    let host: string | undefined;
    /** Time spent on hosts that stopped answering (counted in `queue`). */
    let lostMs = 0;
    try {
      let r: WorkerResult;
      // Hosts that lost the invocation mid-call (made on the first failure only).
      let tried: Set<string> | undefined;
      const pinned = exec.host !== undefined ? { host: exec.host } : undefined;
      for (;;) {
        const worker = this.deps.scheduler.place(exec.version, pinned ?? (tried && { exclude: tried }));
        if (host === undefined) phases.place = clock.monotonic() - t0;
        host = worker.hostId;
        const sent = clock.monotonic();
        try {
          r = await worker.invoke(exec.version, { requestId: exec.id, event: exec.event });
          // The call's time beyond what the host accounted for: in a cluster, the hop to the host
          // and back (the request and result on the wire); in process, the agent's own few µs.
          phases.place += Math.max(0, clock.monotonic() - sent - timeOnHost(r));
          break;
        } catch (err) {
          // When the host stops answering mid-call (KINDLING_WORKER_LOST) the invocation is retried on
          // another host, up to MAX_ATTEMPTS hosts in all: delivery is at-least-once, as on every FaaS
          // platform that retries, since the lost host may have run it.
          const e = toKindlingError(err);
          (tried ??= new Set()).add(worker.hostId);
          if (e.code !== 'KINDLING_WORKER_LOST' || pinned || tried.size >= MAX_ATTEMPTS) throw e;
          metrics.observeRejected(e.code);
          // Time lost on a host that stopped answering is waiting, as far as the caller can tell.
          const lost = clock.monotonic() - sent;
          lostMs += lost;
          phases.queue += lost;
        }
      }
      phases.queue += r.waitedMs;
      phases.place += r.pickMs;
      phases.fetch = r.fetchMs;
      phases.sandbox = r.sandboxMs;
      phases.runtime = r.runtimeMs;
      phases.init = r.initMs;
      phases.exec = r.outcome.execMs;
      if (r.outcome.ok) {
        const refused = exec.vetResult?.(r.outcome.result);
        if (refused) r = { ...r, outcome: { ...r.outcome, ok: false, error: refused } };
      }
      if (r.outcome.ok) result = r.outcome.result;
      else error = r.outcome.error;
      completion = {
        status: r.outcome.ok ? 'succeeded' : 'failed',
        logs: r.outcome.logs,
        logsDroppedBytes: r.outcome.logsDroppedBytes,
        cold: r.cold,
        tier: r.tier,
        instanceId: r.instanceId,
        phases,
        totalMs: 0,
        startedAt,
        finishedAt: 0,
      };
      if (r.outcome.ok) {
        completion.result = result;
        completion.resultJson = JSON.stringify(result ?? null);
      } else {
        completion.error = error!.toJSON().error;
      }
      if (r.startPath) completion.startPath = r.startPath;
      if (r.fetch) completion.fetch = r.fetch;
    } catch (err) {
      error = toKindlingError(err);
      if (
        error.code === 'KINDLING_TOO_MANY_REQUESTS' ||
        error.code === 'KINDLING_UNAVAILABLE' ||
        error.code === 'KINDLING_WORKER_LOST' ||
        error.code === 'KINDLING_NOT_FOUND'
      ) {
        metrics.observeRejected(error.code);
        throw error;
      }
      // The instance could not start (init failed, no handler, image unreadable): a failed cold start.
      phases.init = clock.monotonic() - t0 - phases.place - lostMs;
      completion = {
        status: 'failed',
        error: error.toJSON().error,
        logs: [],
        logsDroppedBytes: 0,
        cold: true,
        tier: exec.version.config.tier,
        phases,
        totalMs: 0,
        startedAt,
        finishedAt: 0,
      };
    }
    roundPhases(phases);
    completion.totalMs = roundMs(exec.queuedMs + clock.monotonic() - t0);
    completion.finishedAt = clock.now();
    const labels: Parameters<Metrics['observeInvocation']>[0] = {
      fn: `${exec.version.tenant}/${exec.version.name}`,
      tier: completion.tier ?? exec.version.config.tier,
      cold: completion.cold ?? false,
      ok: !error,
    };
    if (error) labels.errorCode = error.code;
    if (completion.startPath) labels.startPath = completion.startPath;
    metrics.observeInvocation(labels, phases, completion.totalMs);
    const out: ExecutionResult = { completion, ok: !error };
    if (host !== undefined) out.host = host;
    if (error) out.error = error;
    else out.result = result;
    return out;
  }
}

/** Milliseconds the host's own phases account for. */
function timeOnHost(r: WorkerResult): number {
  return r.waitedMs + r.pickMs + r.fetchMs + r.sandboxMs + r.runtimeMs + r.initMs + r.outcome.execMs;
}
