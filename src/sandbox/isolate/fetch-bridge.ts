/**
 * The host half of the isolate's `fetch`: the request is made by the host with Node's global fetch
 * (undici), so an isolate never touches a socket itself. It is asynchronous on both sides: the isolate
 * hands over a request with an id (an "ignored" callback, which returns at once) and the host calls
 * back into the isolate with the outcome, as timers do. `applySyncPromise` would be shorter, but it
 * would freeze the isolate's thread (every other invocation and timer in it) for the whole request.
 *
 * Limits, enforced here because the host is the side user code cannot change: http(s) only, request
 * and response bodies of at most {@link FETCH_MAX_BODY_BYTES}, at most {@link FETCH_MAX_CONCURRENT}
 * requests in flight per instance, and a timeout bounded by the invocation's remaining time. Every
 * request is aborted when the instance ends.
 */
import { KindlingError } from '../../core/errors.js';

/** Largest request or response body a fetch in an isolate may carry (6 MiB, as an invocation's result). */
export const FETCH_MAX_BODY_BYTES = 6 * 1024 * 1024;
/** Requests one instance may have in flight at once. */
export const FETCH_MAX_CONCURRENT = 16;
/** Timeout of a fetch no running invocation can be found for (module top level, a stray timer). */
export const FETCH_DEFAULT_TIMEOUT_MS = 30_000;

/** A request as the isolate hands it over (copied out of the isolate). */
export interface FetchRequestWire {
  url: string;
  method: string;
  headers: [string, string][];
  body: string | ArrayBuffer | null;
  redirect: 'follow' | 'manual' | 'error';
}

/** What the isolate receives for one request. */
export type FetchResultWire =
  | {
      ok: true;
      status: number;
      statusText: string;
      url: string;
      redirected: boolean;
      headers: [string, string][];
      body: ArrayBuffer;
    }
  | { ok: false; message: string; code: string | undefined };

/** Hands an outcome to the isolate; rejects when the isolate cannot take it (disposed, out of memory). */
export type FetchDeliver = (id: number, result: FetchResultWire) => Promise<void>;

/** One instance's outgoing requests. */
export class FetchBridge {
  private readonly inflight = new Map<number, AbortController>();
  private closed = false;

  /** `isDisposed` tells a failed delivery to a disposed isolate (ignored) from any other failure. */
  constructor(
    private readonly deliver: FetchDeliver,
    private readonly isDisposed: () => boolean,
  ) {}

  /** Requests in flight right now. */
  get active(): number {
    return this.inflight.size;
  }

  /**
   * Starts request `id` (called from the isolate, returns at once). `deadline` is the epoch-ms
   * deadline of the invocation that asked, or null when none is known.
   */
  start(id: number, req: FetchRequestWire, deadline: number | null): void {
    if (this.closed) return;
    void this.run(id, req, deadline).then((result) => this.send(id, result));
  }

  /** Aborts every request in flight; later ones are ignored. Called when the instance ends. */
  close(): void {
    this.closed = true;
    for (const controller of this.inflight.values()) {
      controller.abort(new KindlingError('KINDLING_UNAVAILABLE', 'the isolate instance ended'));
    }
    this.inflight.clear();
  }

  private async run(id: number, req: FetchRequestWire, deadline: number | null): Promise<FetchResultWire> {
    let controller: AbortController | undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs =
      deadline === null ? FETCH_DEFAULT_TIMEOUT_MS : Math.max(1, Math.floor(deadline - Date.now()));
    try {
      checkRequest(req, this.inflight.size);
      controller = new AbortController();
      this.inflight.set(id, controller);
      const abort = controller;
      timer = setTimeout(() => {
        abort.abort(
          new KindlingError(
            'KINDLING_TIMEOUT',
            `fetch ${req.method} ${req.url} timed out after ${timeoutMs} ms (the invocation's remaining time)`,
            { timeoutMs },
          ),
        );
      }, timeoutMs);
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        body: req.body,
        redirect: req.redirect,
        signal: controller.signal,
      });
      const body = await readCapped(res, req.url);
      return {
        ok: true,
        status: res.status,
        statusText: res.statusText,
        url: res.url,
        redirected: res.redirected,
        headers: [...res.headers],
        body,
      };
    } catch (err) {
      // An abort rejects with the reason we gave (a KindlingError); undici wraps network failures.
      const reason: unknown = controller?.signal.aborted ? controller.signal.reason : err;
      return failure(reason);
    } finally {
      clearTimeout(timer);
      if (controller && this.inflight.get(id) === controller) this.inflight.delete(id);
    }
  }

  /** Delivers an outcome; a response the isolate cannot hold becomes an error it can see. */
  private send(id: number, result: FetchResultWire): void {
    if (this.closed || this.isDisposed()) return;
    this.deliver(id, result).catch((err: unknown) => {
      if (this.closed || this.isDisposed() || !result.ok) return;
      const size = result.body.byteLength;
      const message =
        `fetch: the response of ${result.url} (${size} bytes) could not be copied into the isolate ` +
        `(${err instanceof Error ? err.message : String(err)}); raise memoryMb or fetch less`;
      this.deliver(id, { ok: false, message, code: 'KINDLING_MEMORY_LIMIT' }).catch(() => undefined);
    });
  }
}

/** Throws a KindlingError for a request the isolate may not make. */
function checkRequest(req: FetchRequestWire, active: number): void {
  if (active >= FETCH_MAX_CONCURRENT) {
    throw new KindlingError(
      'KINDLING_TOO_MANY_REQUESTS',
      `fetch: ${active} requests are already in flight on this instance, the limit is ${FETCH_MAX_CONCURRENT}; ` +
        'await some before starting more',
      { limit: FETCH_MAX_CONCURRENT },
    );
  }
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new KindlingError('KINDLING_BAD_REQUEST', `fetch: invalid URL ${JSON.stringify(req.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `fetch: only http: and https: URLs are allowed in the isolate tier, not ${url.protocol} (${req.url})`,
      { protocol: url.protocol },
    );
  }
  const size =
    req.body === null ? 0 : typeof req.body === 'string' ? Buffer.byteLength(req.body) : req.body.byteLength;
  if (size > FETCH_MAX_BODY_BYTES) {
    throw new KindlingError(
      'KINDLING_PAYLOAD_TOO_LARGE',
      `fetch: the request body is ${size} bytes, over the limit of ${FETCH_MAX_BODY_BYTES} bytes (6 MiB)`,
      { sizeBytes: size, limitBytes: FETCH_MAX_BODY_BYTES },
    );
  }
}

/** Reads the body, giving up (and closing the connection) as soon as it passes the limit. */
async function readCapped(res: Response, url: string): Promise<ArrayBuffer> {
  const tooLarge = (size: string): KindlingError =>
    new KindlingError(
      'KINDLING_PAYLOAD_TOO_LARGE',
      `fetch: the response body of ${url} is ${size} bytes, over the limit of ${FETCH_MAX_BODY_BYTES} bytes ` +
        '(6 MiB); fetch less (e.g. with a Range header)',
      { limitBytes: FETCH_MAX_BODY_BYTES },
    );
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > FETCH_MAX_BODY_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(String(declared));
  }
  if (!res.body) return new ArrayBuffer(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > FETCH_MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(`more than ${FETCH_MAX_BODY_BYTES}`);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out.buffer;
}

/** The isolate-side error for a failed request: what failed, in the message. */
function failure(err: unknown): FetchResultWire {
  if (KindlingError.is(err)) return { ok: false, message: err.message, code: err.code };
  if (err instanceof Error) {
    // undici: TypeError('fetch failed', { cause }) for network failures; other TypeErrors for bad input.
    if (err.message === 'fetch failed' && err.cause !== undefined) {
      const cause = describeCause(err.cause);
      return { ok: false, message: `fetch failed: ${cause.text}`, code: cause.code };
    }
    return { ok: false, message: `fetch: ${err.message}`, code: undefined };
  }
  return { ok: false, message: `fetch failed: ${String(err)}`, code: undefined };
}

/** `ECONNREFUSED 127.0.0.1:1` from a system error; its message otherwise. */
function describeCause(cause: unknown): { text: string; code: string | undefined } {
  if (typeof cause !== 'object' || cause === null) return { text: String(cause), code: undefined };
  const c = cause as { code?: unknown; address?: unknown; port?: unknown; message?: unknown };
  const code = typeof c.code === 'string' ? c.code : undefined;
  const message = typeof c.message === 'string' ? c.message : '';
  if (code && typeof c.address === 'string') {
    const where = typeof c.port === 'number' ? `${c.address}:${c.port}` : c.address;
    return { text: `${code} ${where}`, code };
  }
  if (code) return { text: message.includes(code) ? message : `${code} ${message}`.trim(), code };
  return { text: message || String(cause), code };
}
