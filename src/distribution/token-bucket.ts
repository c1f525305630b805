/**
 * A token bucket in bytes per second, on the injected clock: how a loopback-only cluster limits each
 * host's upload and download bandwidth in the transport when network namespaces and `tc` are not
 * available. Takers are served in arrival order, so one large transfer cannot starve the others.
 */
import type { Clock } from '../core/clock.js';
import { checkPositiveInt } from './check-options.js';

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Sustained rate. */
  bytesPerSecond: number;
  /** Largest burst; default 64 KiB or a tenth of a second's worth, whichever is larger. */
  burstBytes?: number;
  clock: Clock;
}

/** Rate-limits bytes; see the module comment. */
export class TokenBucket {
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;
  private tail: Promise<void> = Promise.resolve();

  constructor(options: TokenBucketOptions) {
    checkPositiveInt('bytesPerSecond', options.bytesPerSecond);
    this.bytesPerSecond = options.bytesPerSecond;
    this.burstBytes = options.burstBytes ?? Math.max(64 * 1024, Math.floor(options.bytesPerSecond / 10));
    checkPositiveInt('burstBytes', this.burstBytes);
    this.clock = options.clock;
    this.tokens = this.burstBytes;
    this.last = this.clock.monotonic();
  }

  /** Resolves once `bytes` may pass (in bursts of at most `burstBytes`); rejects when `signal` fires. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const mine = this.tail.then(() => this.drain(bytes, signal));
    // The next taker waits for this one to finish, whether it succeeded or was aborted.
    this.tail = mine.catch(() => undefined);
    return mine;
  }

  private async drain(bytes: number, signal?: AbortSignal): Promise<void> {
    let left = bytes;
    while (left > 0) {
      signal?.throwIfAborted();
      this.refill();
      const want = Math.min(left, this.burstBytes);
      if (this.tokens >= want) {
        this.tokens -= want;
        left -= want;
        continue;
      }
      const waitMs = Math.ceil(((want - this.tokens) * 1000) / this.bytesPerSecond);
      await this.sleep(waitMs, signal);
    }
  }

  private refill(): void {
    const now = this.clock.monotonic();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.last) * this.bytesPerSecond) / 1000);
    this.last = now;
  }

  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.clock.clearTimer(timer);
        reject(signal?.reason);
      };
      const timer = this.clock.setTimer(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
