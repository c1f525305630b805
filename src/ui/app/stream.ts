/**
 * One Server-Sent Events stream of the platform, opened with a short-lived token that the API key buys
 * (`POST /v1/events/token`, since EventSource cannot send headers). It renews the token when the stream
 * says it `expired`, reopens after an HTTP error, and signs the page out when the key itself is refused.
 * The live feed (`/v1/events`) and the cluster view's stream (`/v1/events/cluster`) both run on it.
 */
import { request, type ApiError } from './api';

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export interface StreamOptions {
  key: string;
  /** The stream's path, e.g. `/v1/events`. */
  path: string;
  /** Handlers by event name; each gets the event's parsed JSON. */
  on: Record<string, (data: unknown) => void>;
  /** The stream's state changed; `problem` says why it is not live. */
  onStatus(status: StreamStatus, problem?: string): void;
  /** The key itself was refused (401/403): the stream stops. */
  onKeyRefused(err: ApiError): void;
}

export class EventStream {
  private source: EventSource | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(private readonly opts: StreamOptions) {}

  /** Opens the stream: gets a token with the key, then the EventSource. */
  async start(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = (await request<{ token: string }>(this.opts.key, 'POST', '/v1/events/token')).body.token;
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 401 || e.status === 403) {
        this.stop();
        this.opts.onKeyRefused(e);
        return;
      }
      this.opts.onStatus('reconnecting', e.message);
      this.retry = setTimeout(() => void this.start(), 3000);
      return;
    }
    if (this.stopped) return;
    const source = new EventSource(`${this.opts.path}?token=${encodeURIComponent(token)}`);
    this.source = source;
    for (const [event, handle] of Object.entries(this.opts.on))
      source.addEventListener(event, (e) => handle(JSON.parse((e as MessageEvent<string>).data)));
    // The token ran out: buy a new one with the key (which also finds out if the key still works).
    source.addEventListener('expired', () => this.reopen());
    source.onerror = () => {
      // EventSource retries by itself after a dropped connection, but not after an HTTP error
      // (a refused token): then it is CLOSED, and a new token is needed.
      if (source.readyState === EventSource.CLOSED) this.reopen();
      else this.opts.onStatus('reconnecting', 'the live feed dropped; reconnecting');
    };
  }

  stop(): void {
    this.stopped = true;
    this.source?.close();
    if (this.retry) clearTimeout(this.retry);
    this.opts.onStatus('stopped');
  }

  private reopen(): void {
    this.source?.close();
    this.source = undefined;
    this.opts.onStatus('reconnecting', 'renewing the live feed');
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.start(), 500);
  }
}
