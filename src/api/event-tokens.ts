/**
 * Short-lived tokens for the dashboard's live feed. A browser's `EventSource` cannot send an
 * `Authorization` header, so the dashboard trades its API key (sent as a header to
 * `POST /v1/events/token`) for a token that it puts in the feed's URL. A token names the principal it
 * was issued to, expires after `ttlMs` and is signed with a secret that lives only in this process:
 * it opens the event feed and nothing else, a leaked URL is useless after a few minutes, and a
 * restart invalidates every token (the dashboard then asks for a new one with its key).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import type { Principal } from '../control/tenants.js';

/** What a valid token stands for. */
export interface TokenClaims extends Principal {
  /** Expiry, epoch ms. */
  expiresAt: number;
}

/** Issues and checks event-feed tokens. */
export class EventTokens {
  private readonly secret = randomBytes(32);

  /** @param ttlMs lifetime of a token (default 5 minutes) */
  constructor(
    private readonly clock: Clock,
    readonly ttlMs = 5 * 60_000,
  ) {}

  /** A new token for `principal`. */
  issue(principal: Principal): { token: string; expiresAt: number } {
    const expiresAt = this.clock.now() + this.ttlMs;
    const body = Buffer.from(
      JSON.stringify({ t: principal.tenant, r: principal.role, e: expiresAt }),
    ).toString('base64url');
    return { token: `${body}.${this.sign(body)}`, expiresAt };
  }

  /** The claims of a valid token; KINDLING_UNAUTHORIZED saying why otherwise. */
  verify(token: unknown): TokenClaims {
    if (typeof token !== 'string' || token === '')
      throw new KindlingError(
        'KINDLING_UNAUTHORIZED',
        'the event feed needs ?token=…: get one with POST /v1/events/token (with your API key)',
      );
    const [body, sig, extra] = token.split('.');
    const expected = body ? this.sign(body) : '';
    if (
      !body ||
      !sig ||
      extra !== undefined ||
      sig.length !== expected.length ||
      !timingSafeEqual(Buffer.from(sig), Buffer.from(expected))
    )
      throw new KindlingError(
        'KINDLING_UNAUTHORIZED',
        'invalid event-feed token (tokens do not survive a platform restart): get a new one with POST /v1/events/token',
      );
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
      t: string;
      r: Principal['role'];
      e: number;
    };
    if (claims.e <= this.clock.now())
      throw new KindlingError(
        'KINDLING_UNAUTHORIZED',
        'the event-feed token has expired: get a new one with POST /v1/events/token',
        { expiredAt: claims.e },
      );
    return { tenant: claims.t, role: claims.r, expiresAt: claims.e };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.secret).update(body).digest('base64url');
  }
}
