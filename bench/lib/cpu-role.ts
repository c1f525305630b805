/**
 * One process of the CPU-cost benchmark (`bench/cpu-costs.ts`), started with IPC and a role:
 *
 * - `control`: the control plane's distribution API (`registerDistributionRoutes` over a real
 *   {@link DistributionHub} running the tree strategy as cluster mode does), where the seed host joins
 *   every measured function first, so it is the root and the fetching host its child;
 * - `peer`: a worker's peer blob server (`peerBlobRoutes`) over a real {@link BlobStore} holding the
 *   image's blocks (the seed);
 * - `fetch`: a worker's fetch path: a real {@link BlockFetcher} with a {@link RemoteSourceDirectory}
 *   talking to `control` and an {@link HttpTransport} fetching from `peer`, storing into a fresh
 *   {@link BlobStore} per run (verify, write);
 * - `materialise`: the real `materializeImage` writing the image's files from a block cache that
 *   holds every block (read, verify, decompress, write), into a fresh directory per run.
 *
 * Every role answers `{cmd: 'usage'}` with its `process.cpuUsage()`, so the parent reads each
 * process's CPU time around a run, whatever namespace the process runs in.
 */
import Fastify from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../src/core/clock.js';
import { BlockFetcher } from '../../src/distribution/block-fetcher.js';
import { DistributionHub } from '../../src/distribution/distribution-hub.js';
import { registerDistributionRoutes } from '../../src/distribution/distribution-routes.js';
import { HttpTransport } from '../../src/distribution/http-transport.js';
import { peerBlobRoutes } from '../../src/distribution/peer-server.js';
import { RemoteSourceDirectory } from '../../src/distribution/remote-source-directory.js';
import { TreeStrategy } from '../../src/distribution/tree-strategy.js';
import { TREE_PIPELINE_DEPTH } from '../../src/cluster/distribution.js';
import { BlobStore } from '../../src/image/blob-store.js';
import type { Digest } from '../../src/image/manifest.js';
import { materializeImage } from '../../src/image/materialize.js';
import type { BlockSource } from '../../src/image/source.js';

/** The seed's host id in the hub. */
export const SEED_HOST = 'seed';
/** The fetching host's id in the hub. */
export const FETCH_HOST = 'fetcher';

/** Messages the parent sends. */
export type RoleCommand =
  | { cmd: 'usage' }
  | { cmd: 'seed'; fn: string }
  | { cmd: 'fetch'; fn: string; digests: Digest[] }
  | { cmd: 'materialise'; manifest: Digest }
  | { cmd: 'exit' };

/** What a role sends back. */
export type RoleReply =
  | { kind: 'listening'; port: number }
  | { kind: 'usage'; userUs: number; systemUs: number }
  | { kind: 'seeded' }
  | { kind: 'fetched'; bytes: number; ms: number }
  | { kind: 'materialised' }
  | { kind: 'error'; message: string };

function reply(m: RoleReply): void {
  process.send!(m);
}

async function main(): Promise<void> {
  const [role, host, arg1, arg2] = process.argv.slice(2);
  const handlers: ((m: RoleCommand) => Promise<void>)[] = [];
  let close = async (): Promise<void> => {};
  if (role === 'control' || role === 'peer') {
    const app = Fastify({ bodyLimit: 16 * 1024 * 1024 });
    const hub = new DistributionHub({
      strategies: [new TreeStrategy({ pipelineDepth: TREE_PIPELINE_DEPTH })],
      clock: systemClock,
    });
    if (role === 'control') {
      await registerDistributionRoutes(app, hub);
      handlers.push(async (m) => {
        if (m.cmd !== 'seed') return;
        hub.join(m.fn, SEED_HOST);
        reply({ kind: 'seeded' });
      });
    } else {
      await peerBlobRoutes(app, { store: new BlobStore(arg1!), clock: systemClock });
    }
    await app.listen({ host: host!, port: 0 });
    const address = app.server.address();
    close = () => app.close();
    reply({ kind: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
  } else if (role === 'fetch') {
    const [controlUrl, peerUrl] = [arg1!, arg2!];
    handlers.push(async (m) => {
      if (m.cmd !== 'fetch') return;
      const dir = mkdtempSync(join(tmpdir(), 'kindling-cpu-fetch-'));
      const directory = new RemoteSourceDirectory({ baseUrl: controlUrl, host: FETCH_HOST });
      const fetcher = new BlockFetcher({
        host: FETCH_HOST,
        store: new BlobStore(dir),
        directory,
        clock: systemClock,
        transport: new HttpTransport({ registryUrl: controlUrl, peers: new Map([[SEED_HOST, peerUrl]]) }),
      });
      try {
        const t0 = performance.now();
        const report = await fetcher.fetch({
          fn: m.fn,
          repository: 'cpu/bench',
          blocks: m.digests,
          workingSet: [],
        }).done;
        if (report.bytesFromRegistry > 0)
          throw new Error(`${report.bytesFromRegistry} bytes came from the registry, not the peer`);
        reply({ kind: 'fetched', bytes: report.bytesFromPeers, ms: performance.now() - t0 });
      } finally {
        fetcher.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
    reply({ kind: 'listening', port: 0 });
  } else if (role === 'materialise') {
    const nowhere: BlockSource = {
      kind: 'none',
      getManifest: () => Promise.reject(new Error('every block is in the cache; nothing to fetch')),
      getBlob: () => Promise.reject(new Error('every block is in the cache; nothing to fetch')),
    };
    handlers.push(async (m) => {
      if (m.cmd !== 'materialise') return;
      const dir = mkdtempSync(join(tmpdir(), 'kindling-cpu-mat-'));
      try {
        await materializeImage({
          source: nowhere,
          name: 'cpu/bench',
          ref: m.manifest,
          cache: new BlobStore(arg1!),
          imagesDir: dir,
        });
        reply({ kind: 'materialised' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    reply({ kind: 'listening', port: 0 });
  } else {
    throw new Error(`unknown role ${String(role)}: control, peer, fetch or materialise`);
  }
  process.on('message', (m: RoleCommand) => {
    void (async () => {
      try {
        if (m.cmd === 'usage') {
          const u = process.cpuUsage();
          reply({ kind: 'usage', userUs: u.user, systemUs: u.system });
        } else if (m.cmd === 'exit') {
          await close();
          process.disconnect();
        } else for (const h of handlers) await h(m);
      } catch (err) {
        reply({ kind: 'error', message: (err as Error).stack ?? String(err) });
      }
    })();
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
