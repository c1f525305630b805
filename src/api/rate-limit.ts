/**
 * Request rate limits: a token bucket per key, refilled at `rate` requests per second up to a burst
 * of one second's worth. Synchronous and clock-driven (tests move time by hand); one bucket per key
 * that was limited, so it grows with the number of limited functions, not with requests.
 */
import type { Clock } from '../core/clock.js';

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; rate: number }>();

  constructor(private readonly clock: Clock) {}

  /**
   * Takes one request for `key` at `rate` per second. Returns 0 when it may go, else the seconds
   * until it could (for `Retry-After`). A changed rate applies from now.
   */
  take(key: string, rate: number): number {
    const now = this.clock.monotonic();
    const burst = Math.max(1, rate);
    const b = this.buckets.get(key) ?? { tokens: burst, at: now, rate };
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    b.rate = rate;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate));
  }
}
