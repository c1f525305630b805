/**
 * The dashboard: the single-page app under `/ui` (built by `npm run build` into `dist/ui/`), its
 * live feed (`GET /v1/events`, Server-Sent Events), the token that opens the feed
 * (`POST /v1/events/token`) and the read-only views the REST API lacks (`GET /v1/ui/cluster`,
 * `GET /v1/functions/{name}/policy`).
 *
 * Auth: the page itself holds no data and needs no key. The app sends the API key the user signed
 * in with as `Authorization: Bearer` on every API call; for the feed, which a browser's EventSource
 * opens without headers, it trades the key for a short-lived token (see event-tokens.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { cpus, freemem, hostname, loadavg, totalmem } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { KindlingError } from '../core/errors.js';
import { assertFunctionName } from '../control/names.js';
import { principalOf, requireKey, tenantOf } from './auth.js';
import type { ApiContext } from './context.js';
import { EventFeed, type Tick } from './event-feed.js';
import { EventTokens } from './event-tokens.js';
import type { InstanceState } from '../core/metrics.js';
import type { Principal } from '../control/tenants.js';
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

  app.get<{ Querystring: { token?: string } }>('/v1/events', (request, reply) => {
    const claims = tokens.verify(request.query.token);
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
    const unsubscribe = feed.subscribe({
      principal: claims,
      send: (tick: Tick) => raw.write(`event: tick\ndata: ${JSON.stringify(tick)}\n\n`),
    });
    const end = () => {
      unsubscribe();
      streams.delete(raw);
      if (expiry) ctx.clock.clearTimer(expiry);
    };
    // When the token expires the stream says so and ends; the page asks for a new token with its key,
    // so a key that stopped working stops the feed too.
    expiry = ctx.clock.setTimer(
      () => {
        expiry = undefined;
        raw.end('event: expired\ndata: {}\n\n');
        end();
      },
      Math.max(0, claims.expiresAt - ctx.clock.now()),
    );
    raw.on('close', end);
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', requireKey(ctx.tenants));

    scope.post('/v1/events/token', async (request) => {
      const principal = principalOf(request);
      return { ...tokens.issue(principal), tenant: principal.tenant, role: principal.role };
    });

    scope.get('/v1/ui/cluster', async (request) => {
      const principal = principalOf(request);
      if (ctx.cluster) return clusterView(ctx, ctx.cluster, principal);
      const instances = feed.instanceCounts(principal);
      return {
        mode: 'embedded',
        message:
          'cluster mode is not running: this is the embedded single-host platform (gateway, scheduler, registry and one worker in one process)',
        hosts: [
          {
            id: 'local',
            name: hostname(),
            roles: ['gateway', 'scheduler', 'registry', 'worker'],
            cpus: cpus().length,
            loadAverage: loadavg(),
            memory: {
              totalBytes: totalmem(),
              freeBytes: freemem(),
              platformRssBytes: process.memoryUsage().rss,
            },
            instances,
            pools: ctx.scheduler
              .all()
              .flatMap((w) => w.poolCounts())
              .filter((p) => principal.role === 'admin' || p.tenant === principal.tenant).length,
          },
        ],
        // Function trees (FaaSNet) per function, once cluster mode distributes images.
        trees: [],
      };
    });

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

/** `GET /v1/ui/cluster` in cluster mode: the registered hosts and the function trees. */
function clusterView(ctx: ApiContext, cluster: NonNullable<ApiContext['cluster']>, principal: Principal) {
  const visible = (tenant: string) => principal.role === 'admin' || tenant === principal.tenant;
  return {
    mode: 'cluster',
    message: `cluster mode: ${cluster.hosts().length} worker hosts registered with this control plane`,
    hosts: cluster.hosts().map((h) => {
      const worker = ctx.scheduler.get(h.hostId);
      const pools = (worker?.poolCounts() ?? []).filter((p) => visible(p.tenant));
      const instances: Record<string, Record<InstanceState, number>> = {};
      for (const p of pools) {
        const t = (instances[p.tier] ??= { starting: 0, idle: 0, busy: 0, evicting: 0 });
        for (const state of Object.keys(t) as InstanceState[]) t[state] += p.counts[state];
      }
      const totalBytes = h.memory?.totalBytes ?? h.memoryMb * 1024 * 1024;
      return {
        id: h.hostId,
        name: h.url,
        roles: ['worker'],
        memory: {
          totalBytes,
          freeBytes: h.memory?.freeBytes ?? totalBytes,
          platformRssBytes: h.memory?.workerRssBytes ?? 0,
        },
        instances,
        pools: pools.length,
        images: h.images.length,
        lastHeartbeatMsAgo: h.lastHeartbeatMsAgo,
      };
    }),
    // Function trees hold version keys (tenant/name@version): a tenant sees its own.
    trees: cluster.trees().filter((t) => visible(t.fn.split('/')[0] ?? '')),
  };
}
