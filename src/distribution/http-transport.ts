/**
 * The {@link Transport} over real HTTP: a registry origin is the registry's OCI API
 * (`GET /v2/<repository>/blobs/<digest>`), a peer origin is the peer worker's blob server
 * (`GET <peer base URL>/v1/peer/blobs/<digest>`, see `peer-server.ts`), found in an address book.
 * Optionally limits this host's download rate with a {@link TokenBucket} (the peer server limits
 * uploads). Does not verify digests: the fetcher does, so a corrupt block is refetched elsewhere.
 */
import type { IncomingMessage } from 'node:http';
import { systemClock, type Clock } from '../core/clock.js';
import { KindlingError, type ErrorCode } from '../core/errors.js';
import { parseDigest } from '../image/digest.js';
import { parseBaseUrl } from './base-url.js';
import { checkRepositoryName } from '../image/reference.js';
import type { HostId } from './function-tree.js';
import type { BlockOrigin, BlockRequest, Transport } from './strategy.js';
import { KeepAliveClient, readBody } from './keep-alive-client.js';
import { TokenBucket } from './token-bucket.js';
import { REQUESTER_HEADER } from './requester-turns.js';
import { PRIORITY_HEADER } from './upload-priority.js';

/** The peer blob server's path prefix; a block is at `<prefix>/<digest>`. */
export const PEER_BLOBS_PATH = '/v1/peer/blobs';

/** HostId → base URL of that host's worker HTTP server (`http://10.0.0.3:7070`), or undefined. */
export type PeerAddressBook = ReadonlyMap<HostId, string> | ((host: HostId) => string | undefined);

/** Options of {@link HttpTransport}. */
export interface HttpTransportOptions {
  /** Base URL of the registry (`http://10.0.0.1:8080`; a trailing `/v2` is accepted). */
  registryUrl: string;
  /** Sent to the registry as `Authorization: Bearer <token>`. */
  registryToken?: string;
  /** Where peers are. */
  peers: PeerAddressBook;
  /** Sent to peers as `Authorization: Bearer <token>` (the peer server's `token` option). */
  peerToken?: string;
  /**
   * Brings the address book up to date (a cluster worker: a heartbeat now). Called when a peer the
   * control plane named is not in the book, before giving up on it: the peer may have joined after
   * this host last heard of its members. Concurrent misses share one refresh. Default: none.
   */
  refreshPeers?: () => Promise<void>;
  /** Download limit of this host in bytes per second (all fetches share it); default none. */
  downBytesPerSecond?: number;
  /**
   * Name the host in each block request, so servers send its blocks one at a time, in order
   * (`requester-turns.ts`); default false: measured on the test cluster, the turns left the tree
   * unchanged and made the whole-image swarm 2.5-4% slower (`npm run bench:dist -- --ab-turns`).
   */
  nameRequester?: boolean;
  /** Largest block accepted; default 16 MiB (the registry's body limit). */
  maxBlockBytes?: number;
  /** For the rate limiter; default the system clock. */
  clock?: Clock;
}

/** Moves blocks over HTTP; see the module comment. */
export class HttpTransport implements Transport {
  private readonly registryUrl: string;
  private readonly options: HttpTransportOptions;
  /** Keep-alive connections, reused from block to block. */
  private readonly client = new KeepAliveClient();
  private readonly down: TokenBucket | undefined;
  private readonly maxBlockBytes: number;
  /** The address book refresh under way, if any (see `refreshPeers`). */
  private refreshing: Promise<void> | undefined;

  /** Rejects with KINDLING_INVALID_CONFIG when `registryUrl` is not an http(s) URL. */
  constructor(options: HttpTransportOptions) {
    this.registryUrl = parseBaseUrl(options.registryUrl, 'registryUrl').replace(/\/v2$/, '');
    this.options = options;
    this.maxBlockBytes = options.maxBlockBytes ?? 16 * 1024 * 1024;
    this.down =
      options.downBytesPerSecond === undefined
        ? undefined
        : new TokenBucket({
            bytesPerSecond: options.downBytesPerSecond,
            clock: options.clock ?? systemClock,
          });
  }

  async fetchBlock(source: BlockOrigin, request: BlockRequest, signal?: AbortSignal): Promise<Uint8Array> {
    const digest = parseDigest(request.digest);
    let url: string;
    let token: string | undefined;
    if (source.kind === 'registry') {
      url = `${this.registryUrl}/v2/${checkRepositoryName(request.repository)}/blobs/${digest}`;
      token = this.options.registryToken;
    } else {
      const peer = await this.peerUrl(source.host);
      url = `${peer}${PEER_BLOBS_PATH}/${digest}`;
      token = this.options.peerToken;
    }
    const where = source.kind === 'registry' ? `the registry at ${this.registryUrl}` : `peer ${source.host}`;
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (request.background) headers[PRIORITY_HEADER] = 'background';
    // The server sends this host's blocks one after another (see requester-turns.ts).
    if (this.options.nameRequester === true) headers[REQUESTER_HEADER] = request.host;
    let res: IncomingMessage;
    try {
      res = await this.client.open(new URL(url), { headers, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        `cannot reach ${where} for block ${digest}: ${(err as Error).message}`,
        { url },
        { cause: err },
      );
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw await errorOf(res, where, digest);
    return this.readBody(res, where, digest, signal);
  }

  /** Closes the idle keep-alive connections (open ones close when their transfer ends). */
  close(): void {
    this.client.close();
  }

  private async peerUrl(host: HostId): Promise<string> {
    const book = this.options.peers;
    const lookUp = () => (typeof book === 'function' ? book(host) : book.get(host));
    let url = lookUp();
    if (url === undefined && this.options.refreshPeers) {
      this.refreshing ??= this.options.refreshPeers().finally(() => (this.refreshing = undefined));
      // A failed refresh leaves the book as it was; the lookup below says so.
      await this.refreshing.catch(() => undefined);
      url = lookUp();
    }
    if (url === undefined) {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        `peer ${host} has no address in this host's address book; it may have left the cluster`,
        { host },
      );
    }
    return parseBaseUrl(url, `address of peer ${host}`);
  }

  /** Reads the body as it arrives, taking download tokens and enforcing the size limit. */
  private async readBody(
    res: IncomingMessage,
    where: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    const down = this.down;
    try {
      return await readBody(res, {
        limitBytes: this.maxBlockBytes,
        onTooLarge: () =>
          new KindlingError(
            'KINDLING_PAYLOAD_TOO_LARGE',
            `${where} sent more than ${this.maxBlockBytes} bytes for block ${digest}`,
            { limitBytes: this.maxBlockBytes },
          ),
        onBrokenOff: (err, received) =>
          new KindlingError(
            'KINDLING_UNAVAILABLE',
            `${where} broke off block ${digest} after ${received} bytes: ${err.message}`,
            { received },
            { cause: err },
          ),
        ...(down ? { beforeMore: (bytes: number) => down.take(bytes, signal) } : {}),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    }
  }
}

/** An error response (Kindling's `{error}` body or the OCI `{errors: [...]}` one) as a KindlingError. */
async function errorOf(res: IncomingMessage, where: string, digest: string): Promise<KindlingError> {
  const status = res.statusCode ?? 0;
  const text = await errorText(res).catch((err: unknown) => `(body unreadable: ${(err as Error).message})`);
  let code: string | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(text) as {
      error?: { code?: unknown; message?: unknown };
      errors?: { code?: unknown; message?: unknown }[];
    };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
    const oci = body.errors?.[0];
    if (!code && oci?.code === 'BLOB_UNKNOWN') code = 'KINDLING_BLOB_UNKNOWN';
    if (!message && typeof oci?.message === 'string') message = oci.message;
  } catch {
    message = text.slice(0, 300);
  }
  const known = (c: string | undefined): c is ErrorCode => c !== undefined && c.startsWith('KINDLING_');
  const finalCode: ErrorCode = known(code)
    ? KindlingError.fromJSON({ code, message: '' }).code
    : status === 404
      ? 'KINDLING_BLOB_UNKNOWN'
      : status === 401
        ? 'KINDLING_UNAUTHORIZED'
        : status === 403
          ? 'KINDLING_FORBIDDEN'
          : status === 504
            ? 'KINDLING_TIMEOUT'
            : 'KINDLING_UNAVAILABLE';
  return new KindlingError(
    finalCode,
    `${where} answered ${status} for block ${digest}: ${message ?? res.statusMessage ?? ''}`,
    { status },
  );
}

/** An error response's body as text (an error message is small: 64 KiB is plenty). */
async function errorText(res: IncomingMessage): Promise<string> {
  const fail = () => new Error('the error body was cut off or too long');
  return (await readBody(res, { limitBytes: 64 * 1024, onTooLarge: fail, onBrokenOff: fail })).toString(
    'utf8',
  );
}
