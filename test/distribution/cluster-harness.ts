/**
 * A small cluster in one process for the distribution tests: a real registry (the OCI `/v2` routes
 * over a LocalRegistry) on 127.0.0.1:0 that counts, and can hold back, the blocks it serves; a
 * control plane (a DistributionHub, optionally behind its HTTP routes); and N hosts, each with its
 * own BlobStore directory, peer blob server on 127.0.0.1:0, BlockFetcher and HttpTransport.
 */
import { PRIORITY_HEADER } from '../../src/distribution/upload-priority.js';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { ociRoutes } from '../../src/api/oci.js';
import { systemClock, type ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { BlockFetcher } from '../../src/distribution/block-fetcher.js';
import { DistributionHub } from '../../src/distribution/distribution-hub.js';
import type { TransferProgress } from '../../src/distribution/transfer-progress.js';
import { registerDistributionRoutes } from '../../src/distribution/distribution-routes.js';
import type { HostId } from '../../src/distribution/function-tree.js';
import { HttpTransport } from '../../src/distribution/http-transport.js';
import { peerBlobRoutes, type PeerServerStats } from '../../src/distribution/peer-server.js';
import { RemoteSourceDirectory } from '../../src/distribution/remote-source-directory.js';
import { InProcessSourceDirectory, type SourceDirectory } from '../../src/distribution/source-directory.js';
import type { DistributionStrategy, StrategyFactory } from '../../src/distribution/strategy.js';
import { BlobStore } from '../../src/image/blob-store.js';
import { sha256Digest } from '../../src/image/digest.js';
import type { Digest } from '../../src/image/manifest.js';
import { LocalRegistry } from '../../src/image/registry.js';
import { seededBytes, tempDir } from '../image/helpers.js';

export const REPO = 'acme/fn';
/** The test image: 16 blocks of 64 KiB (small, so the suites stay fast; the block size is not the point). */
export const BLOCKS = 16;
export const BLOCK_BYTES = 64 * 1024;
export const IMAGE_BYTES = BLOCKS * BLOCK_BYTES;

/** A strategy from its factory, with components the strategies do not use in these tests. */
export function buildStrategy(f: StrategyFactory): DistributionStrategy {
  return f({ clock: systemClock, transport: { fetchBlock: () => Promise.reject(new Error('unused')) } });
}
export const FN = 'acme/fn';
export const TOKEN = 'cluster-token';

/** Something that resolves when `open()` is called; `close()` re-arms it. */
export class Gate {
  private waiting: (() => void)[] = [];
  private opened = true;
  close(): void {
    this.opened = false;
  }
  open(): void {
    this.opened = true;
    for (const w of this.waiting.splice(0)) w();
  }
  async pass(): Promise<void> {
    if (!this.opened) await new Promise<void>((r) => this.waiting.push(r));
  }
}

/** A registry server that counts blob GETs and lets a test hold them back after the first `allow`. */
export interface TestRegistry {
  url: string;
  registry: LocalRegistry;
  app: FastifyInstance;
  /** Blob GETs answered, and their bytes. */
  served: { blobs: number; bytes: number };
  /** Blob GETs asked for so far (held ones included). */
  asked: number;
  /** Digests of the blob GETs marked background, in the order asked. */
  askedInBackground: string[];
  /** Blob GETs after the first `holdAfter` wait for `gate.open()`; undefined: none held. */
  holdAfter: number | undefined;
  gate: Gate;
  close(): Promise<void>;
}

/** An image of `count` blocks of `size` random bytes each, pushed as blobs of REPO. */
export async function startRegistry(
  root: string,
  count: number,
  size: number,
): Promise<{ reg: TestRegistry; blocks: Digest[]; bytes: Map<Digest, Buffer> }> {
  const registry = new LocalRegistry(join(root, 'registry'));
  const bytes = new Map<Digest, Buffer>();
  const blocks: Digest[] = [];
  for (let i = 0; i < count; i++) {
    const b = seededBytes(`block-${i}`, size);
    const d = sha256Digest(b);
    await registry.putBlob(REPO, d, b);
    bytes.set(d, b);
    blocks.push(d);
  }
  const app = Fastify({ logger: false, forceCloseConnections: true });
  const reg: TestRegistry = {
    url: '',
    registry,
    app,
    served: { blobs: 0, bytes: 0 },
    asked: 0,
    askedInBackground: [],
    holdAfter: undefined,
    gate: new Gate(),
    close: () => app.close(),
  };
  app.addHook('onRequest', async (request) => {
    if (request.method === 'GET' && request.url.includes('/blobs/sha256:')) {
      reg.asked++;
      if (request.headers[PRIORITY_HEADER] === 'background')
        reg.askedInBackground.push(request.url.slice(request.url.lastIndexOf('/') + 1));
      if (reg.holdAfter !== undefined && reg.asked > reg.holdAfter) await reg.gate.pass();
    }
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.method === 'GET' && request.url.includes('/blobs/sha256:') && reply.statusCode === 200) {
      reg.served.blobs++;
      reg.served.bytes += Buffer.isBuffer(payload) ? payload.length : 0;
    }
    return payload;
  });
  await ociRoutes(app, {
    registry,
    authorize(request) {
      if (request.headers.authorization !== `Bearer ${TOKEN}`) {
        throw new KindlingError('KINDLING_UNAUTHORIZED', 'send the cluster token');
      }
    },
  });
  reg.url = await listen(app);
  return { reg, blocks, bytes };
}

export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return `http://127.0.0.1:${address.port}`;
}

/**
 * A registry stand-in that answers every blob request 404 and records the value of `header` in
 * each, to check what a transport sends.
 */
export async function headerProbe(
  header: string,
): Promise<{ url: string; seen: (string | undefined)[]; close: () => Promise<void> }> {
  const seen: (string | undefined)[] = [];
  const app = Fastify({ logger: false });
  app.get('/v2/*', async (request, reply) => {
    seen.push(request.headers[header] as string | undefined);
    return reply.code(404).send({ errors: [{ code: 'BLOB_UNKNOWN', message: 'no' }] });
  });
  return { url: await listen(app), seen, close: () => app.close() };
}

/** What a server did, in order: `send <label>` when a response starts, `sent <label>` when its last byte went out. */
export function recordSends(app: FastifyInstance, label: (url: string) => string): string[] {
  const served: string[] = [];
  app.addHook('onSend', async (req, reply) => {
    served.push(`send ${label(req.url)}`);
    reply.raw.once('finish', () => served.push(`sent ${label(req.url)}`));
  });
  return served;
}

/** Polls `done` every 5 ms, at most `tries` times. */
export async function pollUntil(done: () => boolean, tries: number): Promise<void> {
  for (let i = 0; i < tries && !done(); i++) await new Promise((r) => setTimeout(r, 5));
}

/**
 * Advances `clock` by 250 ms every 5 ms until `transfers` have all settled (at most 4,000 times);
 * their results, or undefined if they did not settle.
 */
export async function settleOnClock<T>(
  clock: ManualClock,
  transfers: Promise<T>[],
): Promise<PromiseSettledResult<T>[] | undefined> {
  let results: PromiseSettledResult<T>[] | undefined;
  void Promise.allSettled(transfers).then((r) => (results = r));
  for (let i = 0; i < 4_000 && results === undefined; i++) {
    await new Promise((r) => setTimeout(r, 5));
    clock.advance(250);
  }
  return results;
}

/** One worker host. */
export interface TestHost {
  id: HostId;
  store: BlobStore;
  fetcher: BlockFetcher;
  app: FastifyInstance;
  url: string;
  peerStats: PeerServerStats | undefined;
  directory: SourceDirectory;
  /** Stops fetching and closes the peer server, cutting open connections (a host that dies). */
  kill(): Promise<void>;
}

/** The control plane plus hosts sharing one address book. */
export class TestCluster {
  readonly hub: DistributionHub;
  readonly hosts = new Map<HostId, TestHost>();
  readonly addresses = new Map<HostId, string>();
  private control: { app: FastifyInstance; url: string } | undefined;
  private readonly remotes: RemoteSourceDirectory[] = [];

  constructor(
    readonly root: string,
    readonly registryUrl: string,
    strategy: DistributionStrategy,
    readonly remote = false,
    progress?: TransferProgress,
  ) {
    this.hub = new DistributionHub({
      strategies: [strategy],
      clock: systemClock,
      ...(progress ? { progress } : {}),
    });
  }

  /**
   * Adds a host. `peerRoutes` replaces the real peer server (a host that lies, say); `configure` runs
   * on the host's server before it listens (hooks).
   */
  async addHost(
    id: HostId,
    peerRoutes?: (app: FastifyInstance, store: BlobStore, fetcher: BlockFetcher) => Promise<void>,
    configure?: (app: FastifyInstance) => void,
  ): Promise<TestHost> {
    const store = new BlobStore(join(this.root, 'hosts', id));
    const directory = await this.directoryFor(id);
    const transport = new HttpTransport({
      registryUrl: this.registryUrl,
      registryToken: TOKEN,
      peers: this.addresses,
      peerToken: TOKEN,
    });
    const fetcher = new BlockFetcher({
      host: id,
      store,
      directory,
      transport,
      clock: systemClock,
      retryDelayMs: 20,
    });
    const app = Fastify({ logger: false, forceCloseConnections: true });
    configure?.(app);
    let peerStats: PeerServerStats | undefined;
    if (peerRoutes) await peerRoutes(app, store, fetcher);
    else peerStats = await peerBlobRoutes(app, { store, fetcher, clock: systemClock, token: TOKEN });
    const url = await listen(app);
    this.addresses.set(id, url);
    const host: TestHost = {
      id,
      store,
      fetcher,
      app,
      url,
      peerStats,
      directory,
      kill: async () => {
        fetcher.stop();
        await app.close();
      },
    };
    this.hosts.set(id, host);
    return host;
  }

  host(id: HostId): TestHost {
    const h = this.hosts.get(id);
    if (!h) throw new Error(`no host ${id}`);
    return h;
  }

  async close(): Promise<void> {
    for (const h of this.hosts.values()) await h.kill();
    for (const r of this.remotes) await r.stop();
    await this.control?.app.close();
  }

  private async directoryFor(id: HostId): Promise<SourceDirectory> {
    if (!this.remote) return new InProcessSourceDirectory(this.hub, id);
    if (!this.control) {
      const app = Fastify({ logger: false, forceCloseConnections: true });
      await registerDistributionRoutes(app, this.hub, { token: TOKEN });
      this.control = { app, url: await listen(app) };
    }
    const dir = new RemoteSourceDirectory({
      baseUrl: this.control.url,
      host: id,
      token: TOKEN,
      pollWaitMs: 5_000,
    });
    await dir.start();
    this.remotes.push(dir);
    return dir;
  }
}

/** Checks that `store` holds every block with the right bytes. */
export async function assertHolds(store: BlobStore, bytes: Map<Digest, Buffer>): Promise<void> {
  for (const [d, b] of bytes) {
    const got = await store.get(d);
    if (!got.equals(b)) throw new Error(`block ${d} differs in ${store.root}`);
  }
}

export { tempDir };
