/**
 * The control plane's handle on a worker process on another host: invocations and warm-ups go over
 * HTTP to the worker's `/v1/worker` API; the state placement needs (instances, images held) comes
 * from the worker's heartbeats, so placing never waits on the network.
 */
import { KindlingError, toKindlingError } from '../core/errors.js';
import { versionKey, type FunctionVersion } from '../control/functions.js';
import type { PoolCounts, WorkerInvocation, WorkerResult } from '../worker/agent.js';
import type { InstanceCount, VersionInstances, WorkerHandle } from '../worker/handle.js';
import type { HostGcInput, HostGcReport } from '../worker/host-gc.js';
import { decodeWorkerResult, type HeartbeatBody, type WireWorkerResult } from './protocol.js';

/**
 * Time a call may take beyond the function's own timeout before the host counts as lost: the cold
 * start itself, including fetching the image.
 */
const START_ALLOWANCE_MS = 300_000;

/** How long a placement counts as "runs here" before the worker's heartbeats must confirm it. */
const PLACEMENT_MEMORY_MS = 10_000;

export interface RemoteWorkerOptions {
  hostId: string;
  /** Base URL of the worker's API. */
  url: string;
  /** Bearer key the worker accepts (the cluster's admin key). */
  key: string;
  memoryMb: number;
  tiers: string[];
  /** The startup working set to send with an invocation (lazy loading on), if one is known. */
  workingSetOf?: (digest: string) => string[] | undefined;
  /** Reports failures of fire-and-forget calls (warm-ups). */
  onBackgroundError(err: KindlingError): void;
}

export class RemoteWorker implements WorkerHandle {
  readonly hostId: string;
  readonly url: string;
  readonly memoryMb: number;
  readonly tiers: string[];
  private running = 0;
  private counts: InstanceCount[] = [];
  private pools: PoolCounts[] = [];
  private memory: HeartbeatBody['memory'];
  private images = new Set<string>();
  private versions = new Set<string>();
  /** Versions placed here lately, by when: a heartbeat sampled before the placement must not hide them. */
  private readonly placed = new Map<string, number>();
  private reportedInFlight = 0;
  /**
   * The calls waiting on the host, aborted when it leaves the cluster. One controller per call, kept
   * only while it runs: `AbortSignal.any` over one long-lived signal would register every call on it
   * for good (Node 20 does not drop them).
   */
  private readonly waiting = new Set<AbortController>();
  private goneReason: Error | undefined;

  constructor(private readonly opts: RemoteWorkerOptions) {
    this.hostId = opts.hostId;
    this.url = opts.url.replace(/\/+$/, '');
    this.memoryMb = opts.memoryMb;
    this.tiers = opts.tiers;
  }

  get inFlight(): number {
    return this.running;
  }

  /**
   * The host was removed from the cluster (it missed its heartbeats, or left): every call still
   * waiting on it fails now with KINDLING_WORKER_LOST, so an invocation on a hung host is retried
   * elsewhere at once rather than when its own timeout ends, and a collection of garbage does not
   * hold the registry's lock for it. (If the host was only slow, what it was running may still finish
   * there: failed-over invocations are delivered at least once.)
   */
  abandon(why: string): void {
    this.goneReason = new Error(`it was removed from the cluster (${why})`);
    for (const call of this.waiting) call.abort(this.goneReason);
    this.waiting.clear();
  }

  /** Takes in a heartbeat's report. */
  update(report: HeartbeatBody): void {
    this.counts = report.instances;
    this.pools = report.pools;
    this.memory = report.memory;
    this.images = new Set(report.images);
    this.versions = new Set(report.versions);
    this.reportedInFlight = report.inFlight;
  }

  /** What the control plane knows of the host, for `GET /v1/cluster/hosts`. */
  describe() {
    return {
      hostId: this.hostId,
      url: this.url,
      memoryMb: this.memoryMb,
      tiers: this.tiers,
      inFlight: this.running,
      reportedInFlight: this.reportedInFlight,
      images: [...this.images],
      versions: [...new Set([...this.versions, ...this.placed.keys()])],
      instances: this.counts,
      memory: this.memory,
    };
  }

  async invoke(target: FunctionVersion, inv: WorkerInvocation): Promise<WorkerResult> {
    this.running++;
    this.placed.set(versionKey(target), performance.now());
    try {
      const body = await this.call<WireWorkerResult>(
        'POST',
        '/v1/worker/invoke',
        {
          target,
          requestId: inv.requestId,
          event: inv.event,
          workingSet: this.opts.workingSetOf?.(target.imageDigest),
        },
        target.config.timeoutMs + START_ALLOWANCE_MS,
      );
      return decodeWorkerResult(body);
    } finally {
      this.running--;
    }
  }

  keepWarm(target: FunctionVersion): void {
    if (target.config.minWarm > 0) this.placed.set(versionKey(target), performance.now());
    this.call('POST', '/v1/worker/keep-warm', { target }, 30_000).catch((err: unknown) =>
      this.opts.onBackgroundError(toKindlingError(err)),
    );
  }

  prewarm(target: FunctionVersion, holdMs: number): void {
    this.placed.set(versionKey(target), performance.now());
    const workingSet = this.opts.workingSetOf?.(target.imageDigest);
    this.call('POST', '/v1/worker/prewarm', { target, holdMs, workingSet }, 30_000).catch((err: unknown) =>
      this.opts.onBackgroundError(toKindlingError(err)),
    );
  }

  async drop(tenant: string, name: string): Promise<void> {
    const prefix = `${tenant}/${name}@`;
    for (const v of this.versions) if (v.startsWith(prefix)) this.versions.delete(v);
    for (const v of this.placed.keys()) if (v.startsWith(prefix)) this.placed.delete(v);
    await this.call('POST', '/v1/worker/drop', { tenant, name }, 30_000);
  }

  /** The host sweeps its copies of images against what the registry's collection found live. */
  collectGarbage(input: HostGcInput): Promise<HostGcReport> {
    return this.call<HostGcReport>(
      'POST',
      '/v1/worker/gc',
      { ...input, liveImages: [...input.liveImages], liveBlobs: [...input.liveBlobs] },
      120_000,
    );
  }

  async instancesOf(tenant: string, name: string): Promise<VersionInstances[]> {
    const q = new URLSearchParams({ tenant, name });
    try {
      const body = await this.call<{ instances: VersionInstances[] }>(
        'GET',
        `/v1/worker/instances?${q}`,
        undefined,
        5_000,
      );
      return body.instances;
    } catch {
      // A host that does not answer shows no instances; the sweep removes it soon.
      return [];
    }
  }

  instanceCounts(): InstanceCount[] {
    return this.counts;
  }

  poolCounts(): PoolCounts[] {
    return this.pools;
  }

  holdsImage(digest: string): boolean {
    return this.images.has(digest);
  }

  runs(key: string): boolean {
    if (this.versions.has(key)) return true;
    const at = this.placed.get(key);
    if (at === undefined) return false;
    // Until the worker's reports have caught up (a few heartbeats), trust our own placement.
    if (performance.now() - at < PLACEMENT_MEMORY_MS) return true;
    this.placed.delete(key);
    return false;
  }

  /**
   * One request to the worker. A refused connection, a reset, a timeout or an unreadable answer is
   * KINDLING_WORKER_LOST (the caller may retry elsewhere); an error the worker answered with is
   * rebuilt as the KindlingError it sent.
   */
  private async call<T>(method: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
    let res: Response;
    let parsed: unknown;
    const call = new AbortController();
    const timer = setTimeout(() => call.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    // As AbortSignal.timeout's: a pending call's deadline alone never keeps the process alive.
    timer.unref();
    if (this.goneReason) call.abort(this.goneReason);
    else this.waiting.add(call);
    try {
      res = await fetch(this.url + path, {
        method,
        headers: {
          authorization: `Bearer ${this.opts.key}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: call.signal,
      });
      const text = await res.text();
      parsed = text ? JSON.parse(text) : undefined;
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new KindlingError(
        'KINDLING_WORKER_LOST',
        `host ${this.hostId} (${this.url}) did not answer ${method} ${path.split('?')[0]}: ${cause}`,
        { host: this.hostId },
      );
    } finally {
      clearTimeout(timer);
      this.waiting.delete(call);
    }
    if (!res.ok) {
      const error = (parsed as { error?: { code: string; message: string } } | undefined)?.error;
      if (error) throw KindlingError.fromJSON(error);
      throw new KindlingError('KINDLING_WORKER_LOST', `host ${this.hostId} answered ${res.status}`, {
        host: this.hostId,
      });
    }
    return parsed as T;
  }
}
