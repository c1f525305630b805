/**
 * The worker's peer blob server: `GET /v1/peer/blobs/:digest` serves a block from the host's
 * {@link BlobStore} to tree children and swarm peers. A block the host is still receiving is answered
 * the moment it arrives ({@link BlockFetcher.waitForBlock}), which is what lets a tree stream block by
 * block; the wait is bounded. The server never refuses a transfer to keep the tree's "two downstream
 * transfers" rule: the strategy keeps it by telling only a host's children to ask it.
 */
import { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import { KindlingError, toKindlingError } from '../core/errors.js';
import type { BlobStore } from '../image/blob-store.js';
import { parseDigest } from '../image/digest.js';
import type { BlockFetcher } from './block-fetcher.js';
import { checkBearer } from './bearer.js';
import { checkPositiveInt } from './check-options.js';
import { PEER_BLOBS_PATH } from './http-transport.js';
import { TokenBucket } from './token-bucket.js';
import { awaitRequesterTurn, RequesterTurns, requesterOf } from './requester-turns.js';
import { awaitUploadTurn, isBackgroundRequest, UploadPriority } from './upload-priority.js';

/** Options of {@link peerBlobRoutes}. */
export interface PeerBlobRoutesOptions {
  /** The host's block cache. */
  store: BlobStore;
  /** The host's fetcher, to wait for blocks it is receiving; without it only stored blocks are served. */
  fetcher?: BlockFetcher;
  /** For wait bounds and the upload limiter. */
  clock: Clock;
  /** How long to wait for a block a running fetch will store; default 30 000 ms. */
  pendingWaitMs?: number;
  /** How long to wait for a block no fetch knows yet (its fetch may be starting); default 2 000 ms. */
  unknownWaitMs?: number;
  /** Requests must carry `Authorization: Bearer <token>`; default no check. */
  token?: string;
  /** Upload limit of this host in bytes per second (all peer responses share it); default none. */
  upBytesPerSecond?: number;
  /** Sends background requests after foreground ones (see `upload-priority.ts`); default a new gate. */
  priority?: UploadPriority;
  /** Sends each requester's blocks one at a time, in order (see `requester-turns.ts`); default new queues. */
  turns?: RequesterTurns;
}

/** Upload counters, for metrics and tests. */
export interface PeerServerStats {
  /** Blocks served, and their bytes. */
  blocksServed: number;
  bytesServed: number;
  /** Requests answered only after waiting for the block to arrive. */
  waitedFor: number;
}

const CHUNK = 64 * 1024;

/**
 * Registers the route (in a scope of its own, with Kindling's JSON error body) and returns live
 * counters. Mount it on the worker's HTTP server.
 */
export async function peerBlobRoutes(
  app: FastifyInstance,
  options: PeerBlobRoutesOptions,
): Promise<PeerServerStats> {
  const stats: PeerServerStats = { blocksServed: 0, bytesServed: 0, waitedFor: 0 };
  const pendingWaitMs = options.pendingWaitMs ?? 30_000;
  const unknownWaitMs = options.unknownWaitMs ?? 2_000;
  checkPositiveInt('pendingWaitMs', pendingWaitMs);
  checkPositiveInt('unknownWaitMs', unknownWaitMs);
  const priority = options.priority ?? new UploadPriority({ clock: options.clock });
  const turns = options.turns ?? new RequesterTurns();
  const up =
    options.upBytesPerSecond === undefined
      ? undefined
      : new TokenBucket({ bytesPerSecond: options.upBytesPerSecond, clock: options.clock });

  await app.register(async (scope) => {
    scope.setErrorHandler((err: FastifyError, _request, reply) => {
      const e = toKindlingError(err);
      return reply.code(e.status).send(e.toJSON());
    });
    if (options.token !== undefined) {
      const token = options.token;
      scope.addHook('onRequest', async (request) => checkBearer(request, token));
    }
    scope.get(
      `${PEER_BLOBS_PATH}/:digest`,
      async (request: FastifyRequest<{ Params: { digest: string } }>, reply) => {
        const digest = parseDigest(request.params.digest);
        const background = isBackgroundRequest(request.headers);
        // A block fetched moments ago is served from memory, verified on arrival (a tree parent
        // forwarding to its children); others are read from the store, which verifies them.
        let bytes = await recentOrStored(options, digest);
        if (!bytes && options.fetcher) {
          const fetcher = options.fetcher;
          const waitMs = fetcher.isPending(digest) ? pendingWaitMs : unknownWaitMs;
          const gone = new AbortController();
          const onClose = (): void =>
            gone.abort(new KindlingError('KINDLING_UNAVAILABLE', 'the requester went away'));
          reply.raw.once('close', onClose);
          const timer = options.clock.setTimer(
            () =>
              gone.abort(
                new KindlingError('KINDLING_TIMEOUT', `block ${digest} did not arrive within ${waitMs} ms`),
              ),
            waitMs,
          );
          try {
            stats.waitedFor++;
            await fetcher.waitForBlock(digest, gone.signal, background);
          } catch (err) {
            if (KindlingError.is(err) && err.code === 'KINDLING_TIMEOUT') {
              throw new KindlingError(
                'KINDLING_BLOB_UNKNOWN',
                `this host does not have block ${digest} and did not receive it within ${waitMs} ms; ask another source`,
                { digest, waitedMs: waitMs },
              );
            }
            throw err;
          } finally {
            options.clock.clearTimer(timer);
            reply.raw.off('close', onClose);
          }
          bytes = await recentOrStored(options, digest);
        }
        if (!bytes) {
          throw new KindlingError(
            'KINDLING_BLOB_UNKNOWN',
            `this host does not have block ${digest}; ask another source`,
            {
              digest,
            },
          );
        }
        await awaitUploadTurn(priority, background, reply.raw);
        await awaitRequesterTurn(turns, requesterOf(request), reply.raw);
        stats.blocksServed++;
        stats.bytesServed += bytes.length;
        reply.type('application/octet-stream').header('content-length', bytes.length);
        return up ? reply.send(throttled(bytes, up)) : reply.send(bytes);
      },
    );
  });
  return stats;
}

function recentOrStored(options: PeerBlobRoutesOptions, digest: string): Promise<Buffer | undefined> {
  const recent = options.fetcher?.recentBlock(digest);
  if (!recent) return readIfPresent(options.store, digest);
  return Promise.resolve(
    Buffer.isBuffer(recent) ? recent : Buffer.from(recent.buffer, recent.byteOffset, recent.byteLength),
  );
}

/** The verified bytes, or undefined when absent (a corrupt copy is deleted by the store and reported absent). */
async function readIfPresent(store: BlobStore, digest: string): Promise<Buffer | undefined> {
  try {
    return await store.get(digest);
  } catch (err) {
    if (
      KindlingError.is(err) &&
      (err.code === 'KINDLING_BLOB_UNKNOWN' || err.code === 'KINDLING_BLOCK_CORRUPT')
    ) {
      return undefined;
    }
    throw err;
  }
}

/** The bytes as a stream that takes upload tokens before each chunk. */
function throttled(bytes: Buffer, bucket: TokenBucket): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = 0; at < bytes.length; at += CHUNK) {
      const chunk = bytes.subarray(at, at + CHUNK);
      await bucket.take(chunk.length);
      yield chunk;
    }
  }
  return Readable.from(chunks());
}
