/**
 * `kindling worker`: one cluster host. It runs a worker agent (sandbox tiers, warm pools, block
 * cache) behind a small HTTP API for the control plane, registers with the control plane, and sends a
 * heartbeat every second with its instances and the images it holds. Images come from the registry
 * over `/v2` (the control plane's, unless `registryUrl` names another address) and from peers; while
 * the registry cannot be reached, manifests come from peers that hold the image too.
 */
import { timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { systemClock, type Clock } from '../core/clock.js';
import { startHoldingDataDir, type DataDirLock } from '../core/data-dir-lock.js';
import { drainingClose } from '../core/drain-close.js';
import { KindlingError, toKindlingError } from '../core/errors.js';
import { parseOrThrow } from '../core/validate.js';
import type { FunctionVersion } from '../control/functions.js';
import { BlockFetcher } from '../distribution/block-fetcher.js';
import { HttpTransport } from '../distribution/http-transport.js';
import { KeepAliveClient } from '../distribution/keep-alive-client.js';
import { ManifestFallbackSource } from '../distribution/manifest-fallback.js';
import { peerBlobRoutes, type PeerServerStats } from '../distribution/peer-server.js';
import { RemoteSourceDirectory } from '../distribution/remote-source-directory.js';
import { BlobStore } from '../image/blob-store.js';
import { HttpRegistryClient } from '../image/http-registry.js';
import type { RuntimeSnapshotMode } from '../sandbox/process/index.js';
import { createHostWorker } from '../worker/host-worker.js';
import { clusterImageFetch, type ImageFetchSummary } from './image-fetch.js';
import {
  dropBody,
  encodeWorkerResult,
  gcBody,
  GC_BODY_LIMIT_BYTES,
  invokeBody,
  keepWarmBody,
  prewarmBody,
  registerBody,
  type HeartbeatBody,
  type WorkingSetBody,
  type RegisterBody,
} from './protocol.js';

export interface WorkerNodeOptions {
  /** The control plane's base URL. */
  controlUrl: string;
  /** Where the registry's `/v2` API is; default the control plane's URL (it serves the registry). */
  registryUrl?: string;
  /** An admin key of the control plane; the worker also accepts it from the control plane. */
  key: string;
  hostId: string;
  dataDir: string;
  /** Address and port to listen on (port 0 picks one). */
  listenHost: string;
  port: number;
  /** The URL the control plane reaches this worker at; default `http://<listenHost>:<port>`. */
  advertiseUrl?: string;
  /** Memory offered to instances, MiB; default the machine's memory. */
  memoryMb?: number;
  stemCells?: number;
  /** See the platform's `runtimeSnapshot` option; default `auto`. */
  runtimeSnapshot?: RuntimeSnapshotMode;
  /**
   * Limit of this host's image traffic each way, bytes/s (downloads through the transport, uploads
   * of the peer server): the loopback cluster's stand-in for a shaped link. Default none.
   */
  bandwidthBytesPerSec?: number;
  /**
   * Ask for lazy loading's rest of an image as background transfers, which servers send after
   * every host's startup blocks; default true. False is the behaviour before that ordering, kept
   * for comparison (`npm run bench:dist -- --ab-priority`).
   */
  backgroundPriority?: boolean;
  /**
   * Name this host in block requests, so the registry and peers send its blocks one at a time;
   * default false (see `HttpTransportOptions.nameRequester`; `npm run bench:dist -- --ab-turns`).
   */
  requesterTurns?: boolean;
  clock?: Clock;
  say?: (line: string) => void;
}

export interface WorkerNode {
  hostId: string;
  url: string;
  app: FastifyInstance;
  /** Resolves once the control plane has accepted the registration. */
  registered: Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a worker host. Its data directory is locked while it runs (a second worker on it is refused
 * with KINDLING_CONFLICT): two hosts must not share a block cache and container state.
 */
export async function startWorkerNode(opts: WorkerNodeOptions): Promise<WorkerNode> {
  const root = resolve(opts.dataDir);
  mkdirSync(root, { recursive: true });
  return startHoldingDataDir(
    root,
    {
      command: `kindling worker --id ${opts.hostId}`,
      port: opts.port,
      otherDir: '--data DIR',
      ...(opts.say ? { say: opts.say } : {}),
    },
    (lock) => startLocked(opts, root, lock),
  );
}

async function startLocked(opts: WorkerNodeOptions, root: string, lock: DataDirLock): Promise<WorkerNode> {
  const clock = opts.clock ?? systemClock;
  const say = opts.say ?? (() => {});
  const registryUrl = opts.registryUrl ?? opts.controlUrl;
  const cache = new BlobStore(join(root, 'blocks'));
  let peers: Record<string, string> = {};
  const fetches: ImageFetchSummary[] = [];
  /** Startup working sets the control plane sent with invocations, by image digest. */
  const workingSets = new Map<string, readonly string[]>();
  const control = opts.controlUrl.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${opts.key}`, 'content-type': 'application/json' };
  const transport = new HttpTransport({
    registryUrl,
    registryToken: opts.key,
    peers: (host) => peers[host],
    // A peer that joined since the last heartbeat: a heartbeat now brings its address.
    refreshPeers: () => beat(),
    peerToken: opts.key,
    clock,
    ...(opts.bandwidthBytesPerSec ? { downBytesPerSecond: opts.bandwidthBytesPerSec } : {}),
    nameRequester: opts.requesterTurns ?? false,
  });
  const registry = new ManifestFallbackSource({
    registry: new HttpRegistryClient({ baseUrl: registryUrl, token: opts.key }),
    holders: (digest) => holdersOf(control, opts.key, digest),
    transport,
    self: opts.hostId,
    clock,
  });
  const directory = new RemoteSourceDirectory({
    baseUrl: opts.controlUrl,
    host: opts.hostId,
    token: opts.key,
    clock,
  });
  const fetcher = new BlockFetcher({
    host: opts.hostId,
    store: cache,
    directory,
    transport,
    clock,
  });
  const { worker } = createHostWorker({
    hostId: opts.hostId,
    dirs: {
      blockCache: join(root, 'blocks'),
      images: join(root, 'images'),
      snapshots: join(root, 'snapshots'),
      containers: join(root, 'containers'),
    },
    cache,
    source: registry,
    fetchImage: clusterImageFetch(
      registry,
      fetcher,
      (digest) => workingSets.get(digest),
      (f) => fetches.push(f),
      opts.backgroundPriority ?? true,
    ),
    onWorkingSet: (target, blocks) => {
      const body: WorkingSetBody = { repository: target.imageRepo, digest: target.imageDigest, blocks };
      fetch(`${control}/v1/cluster/working-sets`, {
        method: 'PUT',
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      }).then(
        (res) => {
          if (!res.ok)
            say(`warning: the control plane refused the working set of ${target.imageDigest}: ${res.status}`);
        },
        (err: unknown) => say(`warning: could not report a working set: ${(err as Error).message}`),
      );
    },
    clock,
    stemCells: opts.stemCells ?? 0,
    ...(opts.runtimeSnapshot ? { runtimeSnapshot: opts.runtimeSnapshot } : {}),
    keepAlivePolicy: 'fixed',
    memoryMb: opts.memoryMb ?? Math.floor(totalmem() / 2 ** 21),
    logLimitBytes: 256 * 1024,
    prepareAhead: false,
    onBackgroundError: (err, key) => say(`warning: ${key}: ${err.message}`),
    say,
  });

  const app = Fastify({ logger: false, bodyLimit: 8 * 1024 * 1024, genReqId: () => '' });
  const closeApp = drainingClose(app);
  const expected = Buffer.from(`Bearer ${opts.key}`);
  app.addHook('onRequest', (request, _reply, done) => {
    if (!request.url.startsWith('/v1/worker/')) return done();
    const got = Buffer.from(request.headers.authorization ?? '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      return done(new KindlingError('KINDLING_UNAUTHORIZED', 'this worker only accepts its cluster key'));
    }
    done();
  });
  app.setErrorHandler((err, _request, reply) => {
    const error = KindlingError.is(err)
      ? err
      : (err as { statusCode?: number }).statusCode === 400
        ? new KindlingError('KINDLING_BAD_REQUEST', (err as Error).message)
        : toKindlingError(err);
    void reply.code(error.status).send(error.toJSON());
  });
  app.get('/healthz', async () => ({ status: 'ok', host: opts.hostId }));
  app.post('/v1/worker/invoke', async (request) => {
    const body = parseOrThrow(invokeBody, request.body, 'invocation');
    if (body.workingSet) workingSets.set(body.target.imageDigest, body.workingSet);
    const result = await worker.invoke(body.target as FunctionVersion, {
      requestId: body.requestId,
      event: body.event,
    });
    return encodeWorkerResult(result);
  });
  app.post('/v1/worker/keep-warm', async (request, reply) => {
    const body = parseOrThrow(keepWarmBody, request.body, 'keep-warm request');
    worker.keepWarm(body.target as FunctionVersion);
    reply.code(202);
    return { accepted: true };
  });
  app.post('/v1/worker/prewarm', async (request, reply) => {
    const body = parseOrThrow(prewarmBody, request.body, 'prewarm request');
    if (body.workingSet) workingSets.set(body.target.imageDigest, body.workingSet);
    worker.prewarm(body.target as FunctionVersion, body.holdMs);
    reply.code(202);
    return { accepted: true };
  });
  app.post('/v1/worker/drop', async (request, reply) => {
    const body = parseOrThrow(dropBody, request.body, 'drop request');
    await worker.drop(body.tenant, body.name);
    reply.code(204);
  });
  app.post('/v1/worker/gc', { bodyLimit: GC_BODY_LIMIT_BYTES }, async (request) => {
    const body = parseOrThrow(gcBody, request.body, 'garbage collection request');
    return worker.collectGarbage({
      ...body,
      liveImages: new Set(body.liveImages),
      liveBlobs: new Set(body.liveBlobs),
    });
  });
  app.get('/v1/worker/instances', async (request) => {
    const q = request.query as { tenant?: string; name?: string };
    if (!q.tenant || !q.name)
      throw new KindlingError('KINDLING_BAD_REQUEST', 'pass ?tenant=…&name=… to list instances');
    return { instances: await worker.instancesOf(q.tenant, q.name) };
  });

  // Tree children and swarm peers fetch blocks here; the peer server shares the cluster key.
  let served: PeerServerStats | undefined;
  app.get('/v1/worker/distribution', async () => ({
    host: opts.hostId,
    fetches,
    served,
    manifestsFromPeers: registry.fromPeers,
  }));
  await app.register(async (scope) => {
    served = await peerBlobRoutes(scope, {
      store: cache,
      fetcher,
      clock,
      token: opts.key,
      ...(opts.bandwidthBytesPerSec ? { upBytesPerSecond: opts.bandwidthBytesPerSec } : {}),
    });
  });

  await app.listen({ host: opts.listenHost, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url =
    opts.advertiseUrl ?? `http://${opts.listenHost === '0.0.0.0' ? '127.0.0.1' : opts.listenHost}:${port}`;
  lock.update({ url });
  const registration: RegisterBody = parseOrThrow(
    registerBody,
    {
      hostId: opts.hostId,
      url,
      memoryMb: opts.memoryMb ?? Math.floor(totalmem() / 2 ** 20),
      tiers: ['process', 'isolate', 'container'],
    },
    'worker options',
    'KINDLING_INVALID_CONFIG',
  );

  let stopped = false;
  let heartbeatMs = 1000;
  let timer: ReturnType<Clock['setTimer']> | undefined;
  let warned = false;

  const register = async (): Promise<void> => {
    const res = await fetch(`${control}/v1/cluster/workers`, {
      method: 'POST',
      headers,
      body: JSON.stringify(registration),
      signal: AbortSignal.timeout(5_000),
    });
    const body = (await res.json()) as {
      heartbeatMs?: number;
      peers?: Record<string, string>;
      error?: { code: string; message: string };
    };
    if (!res.ok)
      throw KindlingError.fromJSON(body.error ?? { code: 'KINDLING_INTERNAL', message: `${res.status}` });
    heartbeatMs = body.heartbeatMs ?? heartbeatMs;
    peers = body.peers ?? peers;
    await directory.start();
  };
  const report = (): HeartbeatBody => ({
    instances: worker.instanceCounts(),
    images: worker.heldImages(),
    versions: worker.versions(),
    inFlight: worker.inFlight,
    pools: worker.poolCounts(),
    // rss() alone: memoryUsage() also walks the V8 heap's spaces, every second.
    memory: { totalBytes: totalmem(), freeBytes: freemem(), workerRssBytes: process.memoryUsage.rss() },
  });
  // Heartbeats reuse one connection: a fetch per second cost a busy worker more CPU than its reports.
  const heartbeatClient = new KeepAliveClient();
  const beat = async (): Promise<void> => {
    const { status, text } = await heartbeatClient.text(
      new URL(`${control}/v1/cluster/workers/${opts.hostId}/heartbeat`),
      { method: 'PUT', headers, body: JSON.stringify(report()), signal: AbortSignal.timeout(5_000) },
    );
    if (status === 404) return register();
    if (status < 200 || status > 299)
      throw new KindlingError('KINDLING_UNAVAILABLE', `heartbeat answered ${status}`);
    peers = (JSON.parse(text) as { peers?: Record<string, string> }).peers ?? peers;
  };
  const loop = (work: () => Promise<void>, onOk: () => void) => {
    if (stopped) return;
    work().then(
      () => {
        warned = false;
        onOk();
      },
      (err: unknown) => {
        if (!warned) say(`warning: control plane ${control}: ${toKindlingError(err).message}; retrying`);
        warned = true;
        timer = clock.setTimer(() => loop(work, onOk), heartbeatMs);
      },
    );
  };
  let resolveRegistered!: () => void;
  const registered = new Promise<void>((r) => (resolveRegistered = r));
  const heartbeats = () => {
    timer = clock.setTimer(() => loop(beat, heartbeats), heartbeatMs);
  };
  loop(register, () => {
    say(`${opts.hostId}: registered with ${control}, serving at ${url}`);
    resolveRegistered();
    heartbeats();
  });

  return {
    hostId: opts.hostId,
    url,
    app,
    registered,
    async close() {
      stopped = true;
      if (timer) clock.clearTimer(timer);
      await fetch(`${control}/v1/cluster/workers/${opts.hostId}`, {
        method: 'DELETE',
        headers: { authorization: headers.authorization },
        signal: AbortSignal.timeout(2_000),
      }).catch(() => undefined);
      fetcher.stop();
      transport.close();
      heartbeatClient.close();
      await directory.stop();
      try {
        await closeApp();
        await worker.close();
      } finally {
        lock.release();
      }
    },
  };
}

/** Hosts the control plane lists as holding image `digest` (from their heartbeats). */
async function holdersOf(control: string, key: string, digest: string): Promise<string[]> {
  const res = await fetch(`${control}/v1/cluster/hosts`, {
    headers: { authorization: `Bearer ${key}` },
    signal: AbortSignal.timeout(5_000),
  });
  if (!res.ok) return [];
  const body = (await res.json()) as { hosts?: { hostId: string; images?: string[] }[] };
  return (body.hosts ?? []).filter((h) => h.images?.includes(digest)).map((h) => h.hostId);
}
