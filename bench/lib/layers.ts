/**
 * Where a warm invocation's CPU goes inside the gateway process, layer by layer, measured in this
 * process with `process.cpuUsage()` over many invocations (16 in flight) against a real process-tier
 * instance. Each layer includes the ones below it; the differences are what each layer adds.
 */
import { Agent, createServer, request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { systemClock } from '../../src/core/clock.js';
import { uuidv7 } from '../../src/core/ids.js';
import { createMetrics } from '../../src/core/metrics.js';
import { Invoker } from '../../src/control/invoker.js';
import { Scheduler } from '../../src/control/scheduler.js';
import { BlobStore } from '../../src/image/blob-store.js';
import { LocalRegistry } from '../../src/image/registry.js';
import { startPlatform } from '../../src/platform.js';
import { fixedKeepAlive } from '../../src/policy/keep-alive.js';
import { createProcessTier } from '../../src/sandbox/process/index.js';
import { WorkerAgent } from '../../src/worker/agent.js';

const CONCURRENCY = 16;

async function cpuPer(count: number, fn: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < count) await fn();
    }),
  );
  const used = process.cpuUsage(before);
  return Math.round(((used.user + used.system) / count) * 10) / 10;
}

/** Measures each layer twice and keeps the second (warmed-up) figure. */
async function layer(count: number, fn: () => Promise<unknown>): Promise<number> {
  await cpuPer(Math.min(count, 5000), fn);
  return cpuPer(count, fn);
}

function httpCaller(url: string, key: string | undefined, body: string): () => Promise<void> {
  const u = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...(key ? { authorization: `Bearer ${key}` } : {}),
  };
  return () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve());
        },
      );
      req.on('error', reject);
      req.end(body);
    });
}

export interface LayerCosts {
  /** µs of gateway-process CPU per warm invocation, by layer (cumulative). */
  tierInvoke: number;
  workerPool: number;
  invoker: number;
  invokerAndRecord: number;
  /** Through HTTP, including the in-process HTTP client's own CPU. */
  httpFull: number;
  /** Reference: the same HTTP client against a minimal fastify route and a bare node server. */
  httpMinimalFastify: number;
  httpBareNode: number;
}

export async function measureLayers(echoDir: string, count: number): Promise<LayerCosts> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-layers-'));
  const platform = await startPlatform({ dataDir, port: 0, deploy: [echoDir] });
  const tier = createProcessTier();
  const worker = new WorkerAgent({
    tiers: { process: tier },
    source: new LocalRegistry(join(dataDir, 'registry')),
    cache: new BlobStore(join(dataDir, 'layers', 'blocks')),
    imagesDir: join(dataDir, 'layers', 'images'),
    clock: systemClock,
    policies: { fixed: fixedKeepAlive() },
    defaultPolicy: 'fixed',
    logLimitBytes: 64 * 1024,
    onBackgroundError: () => {},
  });
  const invoker = new Invoker({
    scheduler: new Scheduler([worker]),
    metrics: createMetrics(),
    clock: systemClock,
  });
  const version = platform.functions.resolve('default', 'bench-echo');
  const event = { hello: 'world', n: 42, list: [1, 2, 3] };
  const body = JSON.stringify(event);

  const bare = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const out = JSON.stringify(JSON.parse(Buffer.concat(chunks).toString()));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const minimal = Fastify({ logger: false });
  minimal.removeAllContentTypeParsers();
  minimal.addContentTypeParser('*', { parseAs: 'string' }, (_r, b, done) => done(null, b));
  minimal.post('/', async (req, reply) => {
    reply.type('application/json');
    return JSON.stringify(JSON.parse(req.body as string));
  });
  await minimal.listen({ port: 0, host: '127.0.0.1' });

  try {
    const instance = await tier.start({
      instanceId: 'layers',
      functionName: 'bench-echo',
      functionVersion: 1,
      codeDir: join(echoDir),
      entry: 'index.mjs',
      env: {},
      memoryMb: 256,
      concurrency: 64,
      logLimitBytes: 64 * 1024,
    });
    let n = 0;
    const costs: LayerCosts = {
      tierInvoke: await layer(count, () =>
        instance.invoke({ requestId: `r${n++}`, event, timeoutMs: 10_000 }),
      ),
      workerPool: await layer(count, () => worker.invoke(version, { requestId: uuidv7(), event })),
      invoker: await layer(count, () =>
        invoker.execute({ id: uuidv7(), version, event, mode: 'sync', queuedMs: 0 }),
      ),
      invokerAndRecord: await layer(count, async () => {
        const id = uuidv7();
        const r = await invoker.execute({ id, version, event, mode: 'sync', queuedMs: 0 });
        platform.invocations.recordSync(
          {
            id,
            tenant: 'default',
            functionName: 'bench-echo',
            version: 1,
            mode: 'sync',
            createdAt: Date.now(),
          },
          r.completion,
        );
      }),
      httpFull: await layer(
        count,
        httpCaller(`${platform.url}/v1/functions/bench-echo/invoke`, platform.adminKey, body),
      ),
      httpMinimalFastify: await layer(
        count,
        httpCaller(
          `http://127.0.0.1:${(minimal.server.address() as { port: number }).port}/`,
          undefined,
          body,
        ),
      ),
      httpBareNode: await layer(
        count,
        httpCaller(`http://127.0.0.1:${(bare.address() as { port: number }).port}/`, undefined, body),
      ),
    };
    await instance.stop();
    return costs;
  } finally {
    await minimal.close();
    bare.close();
    await worker.close();
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
