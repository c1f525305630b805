/**
 * The OCI distribution API (`/v2`) over a {@link LocalRegistry}: how the CLI pushes images and how
 * workers on other hosts pull manifests and blocks. Errors use the OCI error body so standard
 * clients understand them.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KindlingError, type ErrorCode } from '../core/errors.js';
import { parseByteRange } from '../image/byte-range.js';
import { parseDigest } from '../image/digest.js';
import { MANIFEST_MEDIA_TYPE } from '../image/manifest.js';
import { checkRepositoryName } from '../image/reference.js';
import type { LocalRegistry } from '../image/registry.js';
import { UploadSessions } from '../image/upload-sessions.js';
import { awaitRequesterTurn, requesterOf, type RequesterTurns } from '../distribution/requester-turns.js';
import {
  awaitUploadTurn,
  isBackgroundRequest,
  type UploadPriority,
} from '../distribution/upload-priority.js';

/** Largest blob or manifest accepted, in bytes. Blocks are 512 KiB before compression. */
export const OCI_BODY_LIMIT = 16 * 1024 * 1024;

/** Options of {@link ociRoutes}. */
export interface OciRoutesOptions {
  registry: LocalRegistry;
  /**
   * Decides whether the request may `pull` from or `push` to repository `name`; throws a
   * KindlingError (KINDLING_UNAUTHORIZED → 401, KINDLING_FORBIDDEN → 403) to refuse.
   */
  authorize(request: FastifyRequest, name: string, action: 'pull' | 'push'): void | Promise<void>;
  /** Open chunked uploads kept at once; default 256. */
  maxUploadSessions?: number;
  /**
   * Sends blob requests marked background (lazy loading's rest of an image) after foreground ones;
   * see `distribution/upload-priority.ts`. Default: no ordering.
   */
  uploadPriority?: UploadPriority;
  /**
   * Sends the blob requests of each requester that names itself one at a time, in order; see
   * `distribution/requester-turns.ts`. Default: no ordering.
   */
  requesterTurns?: RequesterTurns;
}

/** Kindling codes → OCI status and code, for errors not raised with an explicit OCI code. */
const OCI_BY_CODE: Partial<Record<ErrorCode, [number, string]>> = {
  KINDLING_BLOB_UNKNOWN: [404, 'BLOB_UNKNOWN'],
  KINDLING_MANIFEST_UNKNOWN: [404, 'MANIFEST_UNKNOWN'],
  KINDLING_DIGEST_INVALID: [400, 'DIGEST_INVALID'],
  KINDLING_INVALID_NAME: [400, 'NAME_INVALID'],
  KINDLING_BAD_REQUEST: [400, 'MANIFEST_INVALID'],
  KINDLING_UNAUTHORIZED: [401, 'UNAUTHORIZED'],
  KINDLING_FORBIDDEN: [403, 'DENIED'],
  KINDLING_RANGE_NOT_SATISFIABLE: [416, 'RANGE_INVALID'],
  KINDLING_PAYLOAD_TOO_LARGE: [413, 'SIZE_INVALID'],
  KINDLING_TOO_MANY_REQUESTS: [429, 'TOOMANYREQUESTS'],
  KINDLING_NOT_FOUND: [404, 'NAME_UNKNOWN'],
};

/** Request paths below `/v2/`; names contain slashes, so the fixed suffix decides. */
const ROUTES = {
  manifest: /^(.+)\/manifests\/([^/]+)$/,
  uploadStart: /^(.+)\/blobs\/uploads\/?$/,
  upload: /^(.+)\/blobs\/uploads\/([^/]+)$/,
  blob: /^(.+)\/blobs\/([^/]+)$/,
  tags: /^(.+)\/tags\/list$/,
};

/**
 * Registers the `/v2` routes in a scope of their own, so the raw-body parsers and the OCI error
 * format stay inside it. Hooks of the parent scope (authentication) still run first, and their
 * errors come out in the OCI format too.
 */
export async function ociRoutes(app: FastifyInstance, opts: OciRoutesOptions): Promise<void> {
  await app.register(async (scope) => {
    const { registry } = opts;
    const uploads = new UploadSessions({
      maxBytes: OCI_BODY_LIMIT,
      maxSessions: opts.maxUploadSessions ?? 256,
    });

    // Digests are over the exact bytes, so every body stays a Buffer (no JSON parsing).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: OCI_BODY_LIMIT }, (_req, body, done) =>
      done(null, body),
    );
    scope.addHook('onRequest', async (_req, reply) => {
      reply.header('docker-distribution-api-version', 'registry/2.0');
    });
    scope.setErrorHandler((err: FastifyError, request, reply) => sendError(err, request, reply));

    scope.get('/v2', async () => ({}));
    scope.route({
      method: ['GET', 'HEAD'],
      url: '/v2/*',
      exposeHeadRoute: false,
      handler: async (request, reply) => {
        const path = wildcard(request);
        const head = request.method === 'HEAD';
        if (path === '') return reply.send({});
        let m: RegExpExecArray | null;
        if ((m = ROUTES.manifest.exec(path))) {
          const [name, ref] = await target(request, m, 'pull');
          if (head) {
            const digest = await registry.resolve(name, ref);
            const size = await registry.blobs.size(digest);
            if (size === undefined)
              throw new KindlingError(
                'KINDLING_MANIFEST_UNKNOWN',
                `manifest ${ref} of ${name} is gone from storage; push it again`,
              );
            return reply
              .type(MANIFEST_MEDIA_TYPE)
              .header('docker-content-digest', digest)
              .header('content-length', size)
              .send();
          }
          const { digest, bytes, manifest } = await registry.getManifest(name, ref);
          return reply.type(manifest.mediaType).header('docker-content-digest', digest).send(bytes);
        }
        if ((m = ROUTES.upload.exec(path))) {
          const [name, id] = await target(request, m, 'push');
          const size = uploads.size(name, id);
          return reply
            .code(204)
            .headers(uploadHeaders(name, id, size))
            .send();
        }
        if ((m = ROUTES.blob.exec(path))) {
          const [name, ref] = await target(request, m, 'pull');
          const digest = parseDigest(ref);
          reply
            .type('application/octet-stream')
            .header('docker-content-digest', digest)
            .header('accept-ranges', 'bytes');
          if (head) return reply.header('content-length', await registry.statBlob(name, digest)).send();
          const bytes = await registry.getBlob(name, digest);
          if (opts.uploadPriority)
            await awaitUploadTurn(opts.uploadPriority, isBackgroundRequest(request.headers), reply.raw);
          if (opts.requesterTurns)
            await awaitRequesterTurn(opts.requesterTurns, requesterOf(request), reply.raw);
          const range = parseByteRange(request.headers.range, bytes.length);
          if (!range) return reply.send(bytes);
          return reply
            .code(206)
            .header('content-range', `bytes ${range.start}-${range.end}/${range.size}`)
            .send(bytes.subarray(range.start, range.end + 1));
        }
        if ((m = ROUTES.tags.exec(path))) {
          const [name] = await target(request, m, 'pull');
          return listTags(request, reply, name);
        }
        throw notFound(request.url);
      },
    });

    scope.route({
      method: ['POST', 'PATCH', 'PUT', 'DELETE'],
      url: '/v2/*',
      handler: async (request, reply) => {
        const path = wildcard(request);
        const query = request.query as Record<string, string | undefined>;
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        let m: RegExpExecArray | null;
        if ((m = ROUTES.manifest.exec(path))) {
          const [name, ref] = await target(request, m, 'push');
          if (request.method === 'DELETE') {
            if (ref.includes(':'))
              throw ociError(
                405,
                'UNSUPPORTED',
                'deleting manifests by digest is not supported; delete the tag',
              );
            await registry.deleteTag(name, ref);
            return reply.code(202).send();
          }
          if (request.method !== 'PUT')
            throw ociError(405, 'UNSUPPORTED', `${request.method} is not allowed on manifests`);
          let digest;
          try {
            digest = await registry.putManifest(name, ref, body);
          } catch (err) {
            // In a manifest push a missing blob is the manifest's fault: OCI says 400 MANIFEST_BLOB_UNKNOWN.
            if (KindlingError.is(err) && err.code === 'KINDLING_BLOB_UNKNOWN')
              throw ociError(400, 'MANIFEST_BLOB_UNKNOWN', err.message, err.details);
            throw err;
          }
          return reply
            .code(201)
            .header('location', `/v2/${name}/manifests/${digest}`)
            .header('docker-content-digest', digest)
            .send();
        }
        if ((m = ROUTES.uploadStart.exec(path))) {
          if (request.method !== 'POST')
            throw ociError(
              405,
              'UNSUPPORTED',
              `${request.method} is not allowed here; POST to start an upload`,
            );
          const [name] = await target(request, m, 'push');
          if (query['digest'] !== undefined) {
            const digest = parseDigest(query['digest']);
            await registry.putBlob(name, digest, body);
            return blobCreated(reply, name, digest);
          }
          const id = uploads.open(name);
          const size = uploads.append(name, id, body);
          return reply
            .code(202)
            .headers(uploadHeaders(name, id, size))
            .send();
        }
        if ((m = ROUTES.upload.exec(path))) {
          const [name, id] = await target(request, m, 'push');
          if (request.method === 'DELETE') {
            uploads.cancel(name, id);
            return reply.code(204).send();
          }
          if (request.method === 'PATCH') {
            const size = uploads.append(name, id, body);
            return reply
              .code(202)
              .headers(uploadHeaders(name, id, size))
              .send();
          }
          if (request.method !== 'PUT')
            throw ociError(405, 'UNSUPPORTED', `${request.method} is not allowed on an upload`);
          // Check the digest before closing the session, so a typo does not lose the upload.
          const digest = parseDigest(query['digest']);
          uploads.append(name, id, body);
          await registry.putBlob(name, digest, uploads.take(name, id));
          return blobCreated(reply, name, digest);
        }
        throw notFound(request.url);
      },
    });

    /** Repository name (validated) and the second capture, after `authorize` agreed. */
    async function target(
      request: FastifyRequest,
      m: RegExpExecArray,
      action: 'pull' | 'push',
    ): Promise<[string, string]> {
      const name = checkRepositoryName(m[1] ?? '');
      await opts.authorize(request, name, action);
      return [name, m[2] ?? ''];
    }

    async function listTags(
      request: FastifyRequest,
      reply: FastifyReply,
      name: string,
    ): Promise<FastifyReply> {
      const query = request.query as Record<string, string | undefined>;
      if (!registry.hasRepository(name))
        throw new KindlingError('KINDLING_NOT_FOUND', `repository ${name} is not known to this registry`);
      let tags = await registry.listTags(name);
      const last = query['last'];
      if (last !== undefined) tags = tags.filter((t) => t > last);
      const n = query['n'] !== undefined ? Number(query['n']) : undefined;
      if (n !== undefined && Number.isInteger(n) && n >= 0 && tags.length > n) {
        tags = tags.slice(0, n);
        const next = tags[tags.length - 1];
        if (next !== undefined)
          reply.header('link', `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(next)}>; rel="next"`);
      }
      return reply.send({ name, tags });
    }
  });
}

function wildcard(request: FastifyRequest): string {
  return (request.params as { '*'?: string })['*'] ?? '';
}

function uploadHeaders(name: string, id: string, size: number): Record<string, string> {
  return {
    location: `/v2/${name}/blobs/uploads/${id}`,
    'docker-upload-uuid': id,
    range: `0-${Math.max(0, size - 1)}`,
    'content-length': '0',
  };
}

function blobCreated(reply: FastifyReply, name: string, digest: string): FastifyReply {
  return reply
    .code(201)
    .header('location', `/v2/${name}/blobs/${digest}`)
    .header('docker-content-digest', digest)
    .send();
}

/** A KindlingError that carries the exact OCI status and code to answer with. */
function ociError(
  status: number,
  ociCode: string,
  message: string,
  details?: Record<string, unknown>,
): KindlingError {
  const code: ErrorCode = status === 404 ? 'KINDLING_NOT_FOUND' : 'KINDLING_BAD_REQUEST';
  return new KindlingError(code, message, { ...details, oci: { status, code: ociCode } });
}

function notFound(url: string): KindlingError {
  return ociError(
    404,
    'NAME_UNKNOWN',
    `no OCI endpoint at ${url.split('?')[0]}; see the OCI distribution spec for the /v2 paths`,
  );
}

function isClientError(err: unknown): err is FastifyError & { statusCode: number } {
  const status = (err as FastifyError | undefined)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/** Answers with the OCI error body `{"errors":[{code,message,detail}]}`. */
function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let status: number;
  let ociCode: string;
  let message: string;
  let detail: Record<string, unknown> = {};
  if (KindlingError.is(err)) {
    const explicit = err.details?.['oci'] as { status: number; code: string } | undefined;
    const ociHint =
      typeof err.details?.['ociCode'] === 'string' ? (err.details['ociCode'] as string) : undefined;
    const mapped =
      err.code === 'KINDLING_BAD_REQUEST' && err.details?.['reason'] !== 'manifest-invalid'
        ? ([400, 'UNSUPPORTED'] as [number, string])
        : OCI_BY_CODE[err.code];
    status = explicit?.status ?? mapped?.[0] ?? err.status;
    ociCode = explicit?.code ?? ociHint ?? mapped?.[1] ?? 'UNKNOWN';
    message = err.message;
    const rest = Object.entries(err.details ?? {}).filter(([k]) => k !== 'oci' && k !== 'ociCode');
    detail = { kindlingCode: err.code, ...Object.fromEntries(rest) };
    if (status >= 500) request.log.error({ err }, 'OCI request failed');
    if (status === 416 && typeof err.details?.['size'] === 'number')
      reply.header('content-range', `bytes */${err.details['size']}`);
  } else if (isClientError(err)) {
    // Fastify's own: body too large, malformed request.
    const e = err;
    status = e.statusCode;
    ociCode = status === 413 ? 'SIZE_INVALID' : 'UNSUPPORTED';
    message = status === 413 ? `request body exceeds ${OCI_BODY_LIMIT} bytes` : e.message;
    detail = { fastifyCode: e.code };
  } else {
    request.log.error({ err }, 'OCI request failed');
    status = 500;
    ociCode = 'UNKNOWN';
    message = 'internal error in the registry; see the server log';
  }
  return reply
    .code(status)
    .type('application/json')
    .send({ errors: [{ code: ociCode, message, detail }] });
}
