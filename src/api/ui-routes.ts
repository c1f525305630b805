/**
 * The dashboard: the single-page app under `/ui` (built by `npm run build` into `dist/ui/`), its
 * live feed (`GET /v1/events`, Server-Sent Events), the token that opens the feed
 * (`POST /v1/events/token`) and the read-only views the REST API lacks (`GET /v1/ui/cluster` with its
 * live stream `GET /v1/events/cluster`, `GET /v1/functions/{name}/policy`).
 *
 * Auth: the page itself holds no data and needs no key. The app sends the API key the user signed
 * in with as `Authorization: Bearer` on every API call; for the feed, which a browser's EventSource
 * opens without headers, it trades the key for a short-lived token (see event-tokens.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { KindlingError, toKindlingError } from '../core/errors.js';
import { assertFunctionName } from '../control/names.js';
import { principalOf, requireKey, tenantOf } from './auth.js';
import { clusterView } from './cluster-view.js';
import type { ApiContext } from './context.js';
import { EventFeed, type Tick } from './event-feed.js';
import { EventTokens, type TokenClaims } from './event-tokens.js';
import type { FunctionVersion } from '../control/functions.js';
import type { WorkerHandle } from '../worker/handle.js';

/** Where `npm run build` puts the front end (dist/ui, next to dist/src). */
const UI_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page may load only its own scripts and styles and talk only to this origin. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Options of the dashboard routes. */
export interface UiOptions {
  /** Directory of the built front end (default dist/ui). */
  uiDir?: string;
  /** Lifetime of an event-feed token (default 5 minutes). */
  tokenTtlMs?: number;
  /** Feed tick (default 1 s). */
  tickMs?: number;
}

function notBuilt(dir: string): KindlingError {
  return new KindlingError(
    'KINDLING_UNAVAILABLE',
    `the dashboard is not built (no ${join(dir, 'index.html')}): run \`npm run build\` (npm start does it)`,
  );
}

/** Registers the dashboard and its feed. */
export async function uiRoutes(
  app: FastifyInstance,
  ctx: ApiContext,
  options: UiOptions = {},
): Promise<void> {
  const dir = options.uiDir ?? UI_DIR;
  const feed = new EventFeed({
    invocations: ctx.invocations,
    scheduler: ctx.scheduler,
    clock: ctx.clock,
    ...(options.tickMs ? { tickMs: options.tickMs } : {}),
  });
  const tokens = new EventTokens(ctx.clock, options.tokenTtlMs);
  const streams = new Set<FastifyReply['raw']>();
  feed.start();
  // Open feeds would hold the server open: end them before it closes.
  app.addHook('preClose', (done) => {
    for (const raw of streams) raw.end();
    streams.clear();
    feed.stop();
    done();
  });

  const files = new Map<string, { type: string; body: Buffer }>();
  const asset = (name: string) => {
    let file = files.get(name);
    if (!file) {
      const path = join(dir, name);
      if (!existsSync(path)) return undefined;
      file = { type: TYPES[extname(name)] ?? 'application/octet-stream', body: readFileSync(path) };
      files.set(name, file);
    }
    return file;
  };
  const page = (reply: FastifyReply) => {
    const index = asset('index.html');
    if (!index) throw notBuilt(dir);
    return reply
      .header('content-security-policy', CSP)
      .header('cache-control', 'no-cache')
      .type(index.type)
      .send(index.body);
  };

  app.get('/ui', (_request, reply) => reply.redirect('/ui/'));
  app.get<{ Params: { '*': string } }>('/ui/*', (request, reply) => {
    const path = request.params['*'];
    if (path.startsWith('assets/')) {
      const name = path.slice('assets/'.length);
      const file = /^[\w.-]+$/.test(name) ? asset(join('assets', name)) : undefined;
      if (!file) throw new KindlingError('KINDLING_NOT_FOUND', `no dashboard asset ${JSON.stringify(path)}`);
      return reply.header('cache-control', 'no-cache').type(file.type).send(file.body);
    }
    // Every other path is a view of the single-page app, which reads the URL itself.
    return page(reply);
  });

  /**
   * Opens a Server-Sent Events stream for the holder of `token`: `start` gets the token's claims and a
   * `send`, and returns what stops it. When the token expires the stream says so (`expired`) and ends;
   * the page asks for a new token with its key, so a key that stopped working stops the stream too.
   */
  const openStream = (
    token: string | undefined,
    reply: FastifyReply,
    start: (claims: TokenClaims, send: (event: string, data: unknown) => void) => () => void,
  ) => {
    const claims = tokens.verify(token);
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // Reconnect after 2 s if the connection drops.
    raw.write('retry: 2000\n\n');
    streams.add(raw);
    let expiry: ReturnType<typeof ctx.clock.setTimer> | undefined;
    const stop = start(claims, (event, data) =>
      raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    );
    const end = () => {
      stop();
      streams.delete(raw);
      if (expiry) ctx.clock.clearTimer(expiry);
    };
    expiry = ctx.clock.setTimer(
      () => {
        expiry = undefined;
        raw.end('event: expired\ndata: {}\n\n');
        end();
      },
      Math.max(0, claims.expiresAt - ctx.clock.now()),
    );
    raw.on('close', end);
  };

  app.get<{ Querystring: { token?: string } }>('/v1/events', (request, reply) =>
    openStream(request.query.token, reply, (principal, send) =>
      feed.subscribe({ principal, send: (tick: Tick) => send('tick', tick) }),
    ),
  );

  // The cluster view, live: one `cluster` event a tick while the page shows it (hosts, function trees
  // and transfer progress change by the block while an image spreads).
  app.get<{ Querystring: { token?: string } }>('/v1/events/cluster', (request, reply) =>
    openStream(request.query.token, reply, (principal, send) => {
      let stopped = false;
      let timer: ReturnType<typeof ctx.clock.setTimer> | undefined;
      // The next view is built a tick after the last was sent, so a slow one never overlaps the next.
      const push = () => {
        timer = undefined;
        void clusterView(ctx, principal, (p) => feed.instanceCounts(p))
          .then(
            (view) => !stopped && send('cluster', view),
            (err: unknown) => !stopped && send('problem', toKindlingError(err).toJSON().error),
          )
          .then(() => {
            if (!stopped) timer = ctx.clock.setTimer(push, feed.tickMs);
          });
      };
      push();
      return () => {
        stopped = true;
        if (timer) ctx.clock.clearTimer(timer);
      };
    }),
  );

  await app.register(async (scope) => {
    scope.addHook('onRequest', requireKey(ctx.tenants));

    scope.post('/v1/events/token', async (request) => {
      const principal = principalOf(request);
      return { ...tokens.issue(principal), tenant: principal.tenant, role: principal.role };
    });

    scope.get('/v1/ui/cluster', async (request) =>
      clusterView(ctx, principalOf(request), (p) => feed.instanceCounts(p)),
    );

    scope.get('/v1/ui/policies', async (request) => {
      const principal = principalOf(request);
      const worker = policyWorker(ctx);
      const list = ctx.functions.list(principal.role === 'admin' ? undefined : principal.tenant);
      return {
        policies: list.map((fn) => {
          const state = worker.keepAliveOf(ctx.functions.resolve(fn.tenant, fn.name));
          // The list stays small; one function's histogram is at /v1/functions/{name}/policy.
          delete state.histogram;
          return { tenant: fn.tenant, function: fn.name, version: fn.latestVersion, ...state };
        }),
      };
    });

    scope.get<{ Params: { name: string } }>('/v1/functions/:name/policy', async (request) => {
      const tenant = tenantOf(request);
      assertFunctionName(request.params.name);
      const version = ctx.functions.resolve(tenant, request.params.name);
      const worker = policyWorker(ctx);
      return { function: version.name, version: version.version, ...worker.keepAliveOf(version) };
    });
  });
}

/** The worker whose keep-alive decisions can be read here: the embedded platform's own. */
function policyWorker(ctx: ApiContext): Required<Pick<WorkerHandle, 'keepAliveOf'>> {
  const worker = ctx.scheduler.all().find((w) => w.keepAliveOf);
  if (!worker?.keepAliveOf) {
    throw new KindlingError(
      'KINDLING_UNAVAILABLE',
      ctx.cluster
        ? 'in cluster mode each worker host decides keep-alive for its own pools; the policy view covers the embedded platform'
        : 'no worker is running',
    );
  }
  return { keepAliveOf: (target: FunctionVersion) => worker.keepAliveOf!(target) };
}
