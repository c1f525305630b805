/**
 * The live feed in the browser: one EventSource on `/v1/events`, opened with a short-lived token that
 * the API key buys (`POST /v1/events/token`, since EventSource cannot send headers). Each tick (one a
 * second, whatever the load) updates a small store; views read the store and re-render once per tick.
 */
import type { InstanceState, InvocationSummary, Tick } from '../../api/event-types';
import { request, type ApiError } from './api';

export type { InstanceState, InvocationSummary, Tick };

/** Seconds of history the charts keep. */
const HISTORY = 300;
/** Invocation summaries kept for the function views. */
const RECENT_KEEP = 2000;

export type FeedStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

/** The feed's state, as views read it. */
export interface FeedState {
  status: FeedStatus;
  /** Why the feed is not live, for the status line. */
  problem?: string;
  last?: Tick;
  /** Per-tick series, oldest first: time (s), invocations/s, cold/s, p50 and p99 (ms, last minute). */
  series: { t: number[]; rate: number[]; cold: number[]; p50: number[]; p99: number[] };
  /** Newest last (the last RECENT_KEEP). */
  recent: InvocationSummary[];
  /** Summaries received since the page opened: `received - n` marks a place in `recent` that stays put. */
  received: number;
  /** Bumped on every tick, so views can depend on it. */
  version: number;
}

type Listener = (state: FeedState) => void;

export class Feed {
  private source: EventSource | undefined;
  private readonly listeners = new Set<Listener>();
  private retry: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  readonly state: FeedState = {
    status: 'connecting',
    series: { t: [], rate: [], cold: [], p50: [], p99: [] },
    recent: [],
    received: 0,
    version: 0,
  };

  constructor(
    private readonly key: string,
    /** Called when the key itself is refused (the page signs out and says why). */
    private readonly onKeyRefused: (err: ApiError) => void,
  ) {}

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Opens the feed: gets a token with the key, then the EventSource. */
  async start(): Promise<void> {
    if (this.stopped) return;
    let token: string;
    try {
      token = (await request<{ token: string }>(this.key, 'POST', '/v1/events/token')).body.token;
    } catch (err) {
      const e = err as ApiError;
      if (e.status === 401 || e.status === 403) {
        this.stop();
        this.onKeyRefused(e);
        return;
      }
      this.setStatus('reconnecting', e.message);
      this.retry = setTimeout(() => void this.start(), 3000);
      return;
    }
    if (this.stopped) return;
    const source = new EventSource(`/v1/events?token=${encodeURIComponent(token)}`);
    this.source = source;
    source.addEventListener('tick', (e) => this.onTick(JSON.parse((e as MessageEvent<string>).data) as Tick));
    // The token ran out: buy a new one with the key (which also finds out if the key still works).
    source.addEventListener('expired', () => this.reopen());
    source.onerror = () => {
      // EventSource retries by itself after a dropped connection, but not after an HTTP error
      // (a refused token): then it is CLOSED, and a new token is needed.
      if (source.readyState === EventSource.CLOSED) this.reopen();
      else this.setStatus('reconnecting', 'the live feed dropped; reconnecting');
    };
  }

  stop(): void {
    this.stopped = true;
    this.source?.close();
    if (this.retry) clearTimeout(this.retry);
    this.setStatus('stopped');
  }

  private reopen(): void {
    this.source?.close();
    this.source = undefined;
    this.setStatus('reconnecting', 'renewing the live feed');
    if (this.retry) clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.start(), 500);
  }

  private onTick(tick: Tick): void {
    const s = this.state;
    s.status = 'live';
    delete s.problem;
    s.last = tick;
    const series = s.series;
    series.t.push(tick.t / 1000);
    series.rate.push(tick.invocations / (tick.tickMs / 1000));
    series.cold.push(tick.cold / (tick.tickMs / 1000));
    series.p50.push(tick.window.p50);
    series.p99.push(tick.window.p99);
    if (series.t.length > HISTORY) for (const a of Object.values(series)) a.splice(0, a.length - HISTORY);
    if (tick.recent.length > 0) {
      s.recent.push(...tick.recent);
      s.received += tick.recent.length;
      if (s.recent.length > RECENT_KEEP) s.recent.splice(0, s.recent.length - RECENT_KEEP);
    }
    this.emit();
  }

  private setStatus(status: FeedStatus, problem?: string): void {
    this.state.status = status;
    if (problem) this.state.problem = problem;
    else delete this.state.problem;
    this.emit();
  }

  private emit(): void {
    this.state.version++;
    for (const l of this.listeners) l(this.state);
  }
}
