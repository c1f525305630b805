/**
 * A {@link SourceDirectory} that talks to the control plane's distribution routes over HTTP
 * (`distribution-routes.ts`): what a worker agent in cluster mode gives its {@link BlockFetcher}.
 * Source changes arrive by long-polling `GET /changes` between {@link RemoteSourceDirectory.start}
 * and {@link RemoteSourceDirectory.stop}.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import type { Digest } from '../image/manifest.js';
import { parseBaseUrl } from './base-url.js';
import { DISTRIBUTION_PATH } from './distribution-routes.js';
import type { FunctionKey } from './ft-manager.js';
import { KeepAliveClient } from './keep-alive-client.js';
import type { HostId } from './function-tree.js';
import type { SourceDirectory, SourcesAnswer, StrategyLimits } from './source-directory.js';
import type { BlockOrigin, SourceChange } from './strategy.js';
import type { BlockArrival } from './transfer-progress.js';

/** Options of {@link RemoteSourceDirectory}. */
export interface RemoteSourceDirectoryOptions {
  /** Base URL of the control plane (`http://10.0.0.1:8080`). */
  baseUrl: string;
  /** This host's id. */
  host: HostId;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Per-request limit for the non-polling calls; default 10 000 ms. */
  timeoutMs?: number;
  /** Long-poll length asked of the server; default 20 000 ms. */
  pollWaitMs?: number;
  /** Pause after a failed poll before the next; default 1 000 ms. */
  retryDelayMs?: number;
  clock?: Clock;
}

/** The control plane's distribution API as a {@link SourceDirectory}. */
export class RemoteSourceDirectory implements SourceDirectory {
  readonly host: HostId;
  /** The last error of the change poll (cleared by a good poll), for health reporting. */
  lastPollError: KindlingError | undefined;
  private readonly base: string;
  private readonly options: RemoteSourceDirectoryOptions;
  /** Keep-alive connections: a worker makes a `sources` and a `stored` call per block or batch. */
  private readonly client = new KeepAliveClient();
  private readonly clock: Clock;
  private readonly listeners = new Set<(change: SourceChange) => void>();
  private polling: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(options: RemoteSourceDirectoryOptions) {
    this.base = parseBaseUrl(options.baseUrl, 'control plane baseUrl') + DISTRIBUTION_PATH;
    this.host = options.host;
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  async join(fn: FunctionKey, repository: string): Promise<StrategyLimits> {
    return this.post('join', { host: this.host, fn, repository });
  }

  async remove(fn: FunctionKey): Promise<void> {
    await this.post('remove', { host: this.host, fn });
  }

  async sources(fn: FunctionKey, repository: string, digests: readonly Digest[]): Promise<SourcesAnswer> {
    return this.post('sources', { host: this.host, fn, repository, digests });
  }

  async availability(fn: FunctionKey, digests: readonly Digest[]): Promise<number[]> {
    return (await this.post<{ holders: number[] }>('availability', { fn, digests })).holders;
  }

  async stored(
    fn: FunctionKey,
    repository: string,
    digests: readonly Digest[],
    arrivals?: readonly BlockArrival[],
  ): Promise<void> {
    await this.post('stored', {
      host: this.host,
      fn,
      repository,
      digests,
      ...(arrivals ? { arrivals } : {}),
    });
  }

  async failed(fn: FunctionKey, repository: string, digest: Digest, origin: BlockOrigin): Promise<void> {
    await this.post('failed', { host: this.host, fn, repository, digest, origin });
  }

  onSourceChange(listener: (change: SourceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts polling for source changes; resolves once the poll position is known. */
  async start(): Promise<void> {
    if (this.polling) return;
    const controller = new AbortController();
    this.polling = controller;
    const first = await this.get<{ seq: number }>(
      `changes?host=${encodeURIComponent(this.host)}`,
      controller.signal,
    );
    this.loop = this.poll(first.seq, controller.signal);
  }

  /** Stops polling; resolves once the poll has ended. */
  async stop(): Promise<void> {
    this.polling?.abort();
    this.polling = undefined;
    await this.loop;
    this.client.close();
  }

  private async poll(from: number, signal: AbortSignal): Promise<void> {
    let after = from;
    const wait = this.options.pollWaitMs ?? 20_000;
    while (!signal.aborted) {
      try {
        const r = await this.get<{ seq: number; reset: boolean; changes: SourceChange[] }>(
          `changes?host=${encodeURIComponent(this.host)}&after=${after}&waitMs=${wait}`,
          signal,
        );
        this.lastPollError = undefined;
        for (const change of r.changes) for (const l of [...this.listeners]) l(change);
        after = r.seq;
      } catch (err) {
        if (signal.aborted) return;
        this.lastPollError = KindlingError.is(err)
          ? err
          : new KindlingError('KINDLING_UNAVAILABLE', String(err));
        await new Promise<void>((resolve) => {
          const t = this.clock.setTimer(resolve, this.options.retryDelayMs ?? 1000);
          signal.addEventListener(
            'abort',
            () => {
              this.clock.clearTimer(t);
              resolve();
            },
            { once: true },
          );
        });
      }
    }
  }

  private post<T>(route: string, body: unknown): Promise<T> {
    return this.request<T>(route, { method: 'POST', body: JSON.stringify(body) }, undefined);
  }

  private get<T>(route: string, signal: AbortSignal): Promise<T> {
    return this.request<T>(route, { method: 'GET' }, signal);
  }

  private async request<T>(
    route: string,
    init: { method: 'GET' | 'POST'; body?: string },
    signal: AbortSignal | undefined,
  ): Promise<T> {
    const url = `${this.base}/${route}`;
    const headers: Record<string, string> = {};
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    if (this.options.token) headers['authorization'] = `Bearer ${this.options.token}`;
    let status: number;
    let text: string;
    try {
      ({ status, text } = await this.client.text(new URL(url), {
        ...init,
        headers,
        signal: signal ?? AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      }));
    } catch (err) {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        `cannot reach the control plane at ${this.base} (${init.method} ${route}): ${(err as Error).message}`,
        { url },
        { cause: err },
      );
    }
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (status < 200 || status > 299) {
      const e = (body as { error?: { code: string; message: string } } | undefined)?.error;
      if (e && typeof e.code === 'string') throw KindlingError.fromJSON(e);
      throw new KindlingError(
        status >= 500 ? 'KINDLING_UNAVAILABLE' : 'KINDLING_BAD_REQUEST',
        `the control plane answered ${status} to ${init.method} ${route}: ${text.slice(0, 300)}`,
      );
    }
    if (body === undefined) {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        `the control plane sent a body that is not JSON for ${route}`,
      );
    }
    return body as T;
  }
}
