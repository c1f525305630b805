/**
 * Foreground first on a server's uplink. With lazy loading a host fetches its startup working set
 * (foreground: a sandbox is waiting for it) and then the rest of the image (background). TCP shares
 * a link per connection, so a host already running its function and fetching the rest takes as much
 * of the registry's or a tree parent's upload as a host that cannot start until its working set
 * arrives: at 4 hosts on the test cluster, registry + lazy had its median host ready at 4.1 s and its
 * last at 19.8 s. An {@link UploadPriority} gate gives the server strict priority: a background
 * request waits while any foreground upload is being sent (and `lingerMs` after the last one, so
 * the gap between a host's pipelined requests does not let background in), at most
 * `maxBackgroundWaitMs`, so background traffic is delayed but never starved. Requesters mark
 * background requests with the {@link PRIORITY_HEADER} header; unmarked requests are foreground.
 */
import type { ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import { checkNonNegativeInt, checkPositiveInt } from './check-options.js';

/** Request header naming a block request's priority: `background` or (the default) `foreground`. */
export const PRIORITY_HEADER = 'x-kindling-priority';

/** Options of {@link UploadPriority}. */
export interface UploadPriorityOptions {
  clock: Clock;
  /** Longest a background request waits for foreground uploads to end; default 5 000 ms. */
  maxBackgroundWaitMs?: number;
  /** Quiet time after the last foreground upload before background requests go; default 20 ms. */
  lingerMs?: number;
}

/** Counters, for metrics and tests. */
export interface UploadPriorityStats {
  foregroundActive: number;
  backgroundWaiting: number;
  /** Background requests that waited, and those whose wait ended at `maxBackgroundWaitMs`. */
  backgroundDelayed: number;
  backgroundWaitCapped: number;
}

/** True when the request headers mark a background transfer. */
export function isBackgroundRequest(headers: Record<string, string | string[] | undefined>): boolean {
  return headers[PRIORITY_HEADER] === 'background';
}

interface Waiter {
  release: () => void;
}

/** The gate; see the module comment. */
export class UploadPriority {
  readonly stats: UploadPriorityStats = {
    foregroundActive: 0,
    backgroundWaiting: 0,
    backgroundDelayed: 0,
    backgroundWaitCapped: 0,
  };
  private readonly clock: Clock;
  private readonly maxWaitMs: number;
  private readonly lingerMs: number;
  private readonly waiters = new Set<Waiter>();
  private linger: TimerHandle | undefined;
  /** False from the first foreground upload until `lingerMs` after the last one ended. */
  private quiet = true;

  constructor(options: UploadPriorityOptions) {
    this.clock = options.clock;
    this.maxWaitMs = options.maxBackgroundWaitMs ?? 5_000;
    this.lingerMs = options.lingerMs ?? 20;
    checkPositiveInt('maxBackgroundWaitMs', this.maxWaitMs);
    checkNonNegativeInt('lingerMs', this.lingerMs);
  }

  /** Marks a foreground upload as started; call the returned function (once is enough) when it ended. */
  foreground(): () => void {
    this.stats.foregroundActive++;
    this.quiet = false;
    if (this.linger !== undefined) {
      this.clock.clearTimer(this.linger);
      this.linger = undefined;
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.stats.foregroundActive > 0) return;
      this.linger = this.clock.setTimer(() => {
        this.linger = undefined;
        this.quiet = true;
        for (const w of [...this.waiters]) w.release();
      }, this.lingerMs);
    };
  }

  /**
   * Resolves when a background upload may go: at once when no foreground upload is running, else
   * when they have all ended (plus `lingerMs`) or after `maxBackgroundWaitMs`; rejects with the
   * signal's reason when `signal` aborts first (the requester went away).
   */
  background(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.quiet) return Promise.resolve();
    this.stats.backgroundDelayed++;
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.waiters.delete(waiter);
        this.stats.backgroundWaiting--;
        this.clock.clearTimer(cap);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        release: () => {
          done();
          resolve();
        },
      };
      const onAbort = (): void => {
        done();
        reject(signal?.reason);
      };
      const cap = this.clock.setTimer(() => {
        this.stats.backgroundWaitCapped++;
        waiter.release();
      }, this.maxWaitMs);
      this.waiters.add(waiter);
      this.stats.backgroundWaiting++;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * Call just before sending a block response on `res`: a background response waits its turn (and
 * rejects if the requester goes away meanwhile); a foreground one counts as running until `res`
 * closes (sent, or the connection dropped).
 */
export async function awaitUploadTurn(
  gate: UploadPriority,
  background: boolean,
  res: ServerResponse,
): Promise<void> {
  if (!background) {
    res.once('close', gate.foreground());
    return;
  }
  const gone = new AbortController();
  const onClose = (): void =>
    gone.abort(new KindlingError('KINDLING_UNAVAILABLE', 'the requester went away'));
  res.once('close', onClose);
  try {
    await gate.background(gone.signal);
  } finally {
    res.off('close', onClose);
  }
}
