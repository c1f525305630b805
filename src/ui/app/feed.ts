/**
 * The live feed in the browser: one event stream on `/v1/events` (see stream.ts for the token it is
 * opened with). Each tick (one a second, whatever the load) updates a small store; views read the
 * store and re-render once per tick.
 */
import type { InstanceState, InvocationSummary, Tick } from '../../api/event-types';
import type { ApiError } from './api';
import { EventStream, type StreamStatus } from './stream';

export type { InstanceState, InvocationSummary, Tick };

/** Seconds of history the charts keep. */
const HISTORY = 300;
/** Invocation summaries kept for the function views. */
const RECENT_KEEP = 2000;

export type FeedStatus = StreamStatus;

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
  private readonly stream: EventStream;
  private readonly listeners = new Set<Listener>();
  readonly state: FeedState = {
    status: 'connecting',
    series: { t: [], rate: [], cold: [], p50: [], p99: [] },
    recent: [],
    received: 0,
    version: 0,
  };

  constructor(
    key: string,
    /** Called when the key itself is refused (the page signs out and says why). */
    onKeyRefused: (err: ApiError) => void,
  ) {
    this.stream = new EventStream({
      key,
      path: '/v1/events',
      on: { tick: (data) => this.onTick(data as Tick) },
      onStatus: (status, problem) => this.setStatus(status, problem),
      onKeyRefused,
    });
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Opens the feed. */
  start(): Promise<void> {
    return this.stream.start();
  }

  stop(): void {
    this.stream.stop();
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
