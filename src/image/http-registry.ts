/**
 * A registry reached over the OCI distribution API (`/v2`): how a worker on another host pulls,
 * and how the CLI pushes. Every blob and manifest downloaded is checked against its digest.
 */
import { KindlingError, type ErrorCode } from '../core/errors.js';
import { parseDigest, sha256Digest } from './digest.js';
import { parseManifest } from './manifest-codec.js';
import { MANIFEST_MEDIA_TYPE, type Digest } from './manifest.js';
import { checkRepositoryName } from './reference.js';
import type { BlockSource, ImageSink, ResolvedManifest } from './source.js';

/** Options of {@link HttpRegistryClient}. */
export interface HttpRegistryClientOptions {
  /** Base URL of the registry, e.g. `http://10.0.0.2:8080` (a trailing `/v2` is accepted). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** The fetch to use; default the global one. Injected by tests and by transports that shape traffic. */
  fetch?: typeof fetch;
  /** Per-request time limit in milliseconds; default 60 000. */
  timeoutMs?: number;
}

/** OCI error codes → Kindling codes; anything else is decided by HTTP status. */
const OCI_CODES: Record<string, ErrorCode> = {
  BLOB_UNKNOWN: 'KINDLING_BLOB_UNKNOWN',
  MANIFEST_BLOB_UNKNOWN: 'KINDLING_BLOB_UNKNOWN',
  MANIFEST_UNKNOWN: 'KINDLING_MANIFEST_UNKNOWN',
  DIGEST_INVALID: 'KINDLING_DIGEST_INVALID',
  NAME_INVALID: 'KINDLING_INVALID_NAME',
  TAG_INVALID: 'KINDLING_INVALID_NAME',
  MANIFEST_INVALID: 'KINDLING_BAD_REQUEST',
  UNAUTHORIZED: 'KINDLING_UNAUTHORIZED',
  DENIED: 'KINDLING_FORBIDDEN',
  TOOMANYREQUESTS: 'KINDLING_TOO_MANY_REQUESTS',
};

/** Implements {@link BlockSource} and {@link ImageSink} over HTTP with `fetch`. */
export class HttpRegistryClient implements BlockSource, ImageSink {
  /** Reads from here are labelled `registry` in metrics and invocation records. */
  readonly kind = 'registry';
  /** The normalised base URL (no trailing slash, no `/v2`). */
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly timeoutMs: number;

  /** Rejects with KINDLING_INVALID_CONFIG when `baseUrl` is not an http(s) URL. */
  constructor(options: HttpRegistryClientOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `registry baseUrl ${JSON.stringify(options.baseUrl)} is not a URL; use e.g. http://127.0.0.1:8080`,
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `registry baseUrl ${options.baseUrl} must use http: or https:`,
      );
    }
    this.baseUrl = url.href.replace(/\/+$/, '').replace(/\/v2$/, '');
    this.token = options.token;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Resolves a tag or digest; the bytes are checked against the digest asked for or announced. */
  async getManifest(name: string, ref: string): Promise<ResolvedManifest> {
    const res = await this.request('GET', `${this.repo(name)}/manifests/${encodeURIComponent(ref)}`, {
      headers: { accept: MANIFEST_MEDIA_TYPE },
      notFound: 'KINDLING_MANIFEST_UNKNOWN',
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    const claimed = ref.includes(':') ? ref : res.headers.get('docker-content-digest');
    if (claimed && claimed !== digest) {
      throw new KindlingError(
        'KINDLING_BLOCK_CORRUPT',
        `manifest ${name}:${ref} from ${this.baseUrl} hashes to ${digest}, expected ${claimed}`,
        { name, ref, digest, claimed },
      );
    }
    return { digest, manifest: parseManifest(bytes), bytes };
  }

  /** Downloads a blob and verifies it; a mismatch rejects with KINDLING_BLOCK_CORRUPT. */
  async getBlob(name: string, digest: Digest): Promise<Buffer> {
    const d = parseDigest(digest);
    const res = await this.request('GET', `${this.repo(name)}/blobs/${d}`, {
      notFound: 'KINDLING_BLOB_UNKNOWN',
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const actual = sha256Digest(bytes);
    if (actual !== d) {
      throw new KindlingError(
        'KINDLING_BLOCK_CORRUPT',
        `blob ${d} from ${this.baseUrl} hashes to ${actual}`,
        { name, digest: d, actual },
      );
    }
    return bytes;
  }

  /** `HEAD` on the blob: true on 200, false on 404. */
  async hasBlob(name: string, digest: Digest): Promise<boolean> {
    const d = parseDigest(digest);
    const res = await this.request('HEAD', `${this.repo(name)}/blobs/${d}`, {
      notFound: 'KINDLING_BLOB_UNKNOWN',
      allow404: true,
    });
    return res.status !== 404;
  }

  /**
   * Uploads a blob in one request (`POST .../blobs/uploads/?digest=`). A registry that answers 202
   * (it does not take monolithic POSTs) gets the bytes with a `PUT` to the session it opened.
   */
  async putBlob(name: string, digest: Digest, bytes: Buffer): Promise<void> {
    const d = parseDigest(digest);
    const actual = sha256Digest(bytes);
    if (actual !== d) {
      throw new KindlingError(
        'KINDLING_DIGEST_INVALID',
        `the ${bytes.length} bytes given for ${d} hash to ${actual}`,
        { digest: d, actual },
      );
    }
    const res = await this.request('POST', `${this.repo(name)}/blobs/uploads/?digest=${d}`, {
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
      notFound: 'KINDLING_NOT_FOUND',
    });
    if (res.status === 202) {
      const location = res.headers.get('location');
      if (!location)
        throw new KindlingError(
          'KINDLING_UNAVAILABLE',
          `registry ${this.baseUrl} opened an upload without a Location header`,
        );
      const url = new URL(location, this.baseUrl);
      url.searchParams.set('digest', d);
      await this.request('PUT', url.href, {
        body: bytes,
        headers: { 'content-type': 'application/octet-stream' },
        notFound: 'KINDLING_NOT_FOUND',
        absolute: true,
      });
    }
  }

  /** Uploads a manifest under `ref`; returns its digest (checked against the registry's answer). */
  async putManifest(name: string, ref: string, bytes: Buffer): Promise<Digest> {
    const digest = sha256Digest(bytes);
    const res = await this.request('PUT', `${this.repo(name)}/manifests/${encodeURIComponent(ref)}`, {
      body: bytes,
      headers: { 'content-type': MANIFEST_MEDIA_TYPE },
      notFound: 'KINDLING_NOT_FOUND',
    });
    const claimed = res.headers.get('docker-content-digest');
    if (claimed && claimed !== digest) {
      throw new KindlingError(
        'KINDLING_DIGEST_INVALID',
        `registry ${this.baseUrl} stored the manifest as ${claimed}, but it hashes to ${digest}`,
      );
    }
    return digest;
  }

  /** Tags of repository `name`, sorted; empty for a repository never pushed to (404 NAME_UNKNOWN). */
  async listTags(name: string): Promise<string[]> {
    const res = await this.request('GET', `${this.repo(name)}/tags/list`, {
      notFound: 'KINDLING_NOT_FOUND',
    }).catch((err: unknown) => {
      if (KindlingError.is(err) && err.code === 'KINDLING_NOT_FOUND') return undefined;
      throw err;
    });
    if (!res) return [];
    const body = (await res.json()) as { tags?: unknown };
    return Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string').sort() : [];
  }

  /** Removes a tag; rejects with KINDLING_MANIFEST_UNKNOWN when there is none. */
  async deleteTag(name: string, tag: string): Promise<void> {
    await this.request('DELETE', `${this.repo(name)}/manifests/${encodeURIComponent(tag)}`, {
      notFound: 'KINDLING_MANIFEST_UNKNOWN',
    });
  }

  private repo(name: string): string {
    return `/v2/${checkRepositoryName(name)}`;
  }

  private async request(
    method: string,
    path: string,
    opts: {
      notFound: ErrorCode;
      headers?: Record<string, string>;
      body?: Buffer;
      allow404?: boolean;
      absolute?: boolean;
    },
  ): Promise<Response> {
    const url = opts.absolute ? path : `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { ...opts.headers };
    if (this.token) headers['authorization'] = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers,
        ...(opts.body ? { body: opts.body } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new KindlingError(
        'KINDLING_UNAVAILABLE',
        `cannot reach the registry at ${this.baseUrl} (${method} ${path}): ${(err as Error).message}`,
        { url },
        { cause: err },
      );
    }
    if (res.ok || (opts.allow404 && res.status === 404)) return res;
    throw await toError(res, method, path, opts.notFound);
  }
}

/** Turns an error response (OCI error body or not) into a KindlingError. */
async function toError(
  res: Response,
  method: string,
  path: string,
  notFound: ErrorCode,
): Promise<KindlingError> {
  let first: { code?: unknown; message?: unknown; detail?: unknown } | undefined;
  if (method !== 'HEAD') {
    const text = await res.text().catch((err: unknown) => `(body unreadable: ${(err as Error).message})`);
    try {
      const body = JSON.parse(text) as { errors?: Array<typeof first> };
      first = body.errors?.[0];
    } catch {
      first = { message: text.slice(0, 500) };
    }
  }
  const ociCode = typeof first?.code === 'string' ? first.code : undefined;
  const code =
    (ociCode !== undefined && Object.hasOwn(OCI_CODES, ociCode) ? OCI_CODES[ociCode] : undefined) ??
    byStatus(res.status, notFound);
  const message = typeof first?.message === 'string' && first.message !== '' ? first.message : res.statusText;
  return new KindlingError(
    code,
    `registry answered ${res.status}${ociCode ? ` ${ociCode}` : ''} to ${method} ${path}: ${message}`,
    {
      status: res.status,
      ...(ociCode ? { ociCode } : {}),
      ...(first?.detail && typeof first.detail === 'object' ? { detail: first.detail } : {}),
    },
  );
}

function byStatus(status: number, notFound: ErrorCode): ErrorCode {
  switch (status) {
    case 401:
      return 'KINDLING_UNAUTHORIZED';
    case 403:
      return 'KINDLING_FORBIDDEN';
    case 404:
      return notFound;
    case 413:
      return 'KINDLING_PAYLOAD_TOO_LARGE';
    case 416:
      return 'KINDLING_RANGE_NOT_SATISFIABLE';
    case 429:
      return 'KINDLING_TOO_MANY_REQUESTS';
    default:
      return status >= 500 ? 'KINDLING_UNAVAILABLE' : 'KINDLING_BAD_REQUEST';
  }
}
