/**
 * The cold-start phases every invocation records, in the order they happen.
 * A warm invocation has only `queue`, `place` and `exec`; the others are 0.
 */
export const PHASES = ['queue', 'place', 'fetch', 'sandbox', 'runtime', 'init', 'exec'] as const;

export type Phase = (typeof PHASES)[number];

/** Milliseconds spent in each phase. */
export type Phases = Record<Phase, number>;

/** What each phase means, for documentation, `Server-Timing` descriptions and the CLI. */
export const PHASE_DESCRIPTIONS: Record<Phase, string> = {
  queue:
    'waiting: request handling before placement, waiting for a free instance, and time on a host that was lost',
  place: 'choosing the host and the instance, and in a cluster the hop to the host and back',
  fetch: 'getting the image (manifest and blocks) onto the host',
  sandbox: 'creating the sandbox (process spawn)',
  runtime: 'the runtime starting inside the sandbox',
  init: "loading the function's module (its top-level code)",
  exec: 'running the handler',
};

/** All phases at zero. */
export function emptyPhases(): Phases {
  return { queue: 0, place: 0, fetch: 0, sandbox: 0, runtime: 0, init: 0, exec: 0 };
}

/** Rounds to microseconds, which is all the precision a millisecond figure here carries. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Rounds every phase to microseconds, in place (written out: a keyed loop is slower, and this runs per invocation). */
export function roundPhases(phases: Phases): void {
  phases.queue = roundMs(phases.queue);
  phases.place = roundMs(phases.place);
  phases.fetch = roundMs(phases.fetch);
  phases.sandbox = roundMs(phases.sandbox);
  phases.runtime = roundMs(phases.runtime);
  phases.init = roundMs(phases.init);
  phases.exec = roundMs(phases.exec);
}

/**
 * The standard `Server-Timing` header value for these phases, plus a `total`. A cold start's
 * `sandbox` entry names its start path as the description (`desc="stem-cell"`).
 */
export function serverTiming(phases: Phases, totalMs?: number, startPath?: string): string {
  // One template, the phases written out in PHASES order (a test holds it to that): this runs for
  // every sync invocation, and a loop of `+=` builds twice the garbage in twice the time.
  const desc = startPath ? `;desc="${startPath}"` : '';
  const out =
    `queue;dur=${roundMs(phases.queue)}, place;dur=${roundMs(phases.place)}, fetch;dur=${roundMs(phases.fetch)}, ` +
    `sandbox;dur=${roundMs(phases.sandbox)}${desc}, runtime;dur=${roundMs(phases.runtime)}, ` +
    `init;dur=${roundMs(phases.init)}, exec;dur=${roundMs(phases.exec)}`;
  return totalMs === undefined ? out : `${out}, total;dur=${roundMs(totalMs)}`;
}
