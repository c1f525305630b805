/**
 * The isolate tier's `fetch`: present only with `network: true`, made by the host against a real HTTP
 * server on 127.0.0.1 (the only address these tests may reach), with its limits and its abort on
 * dispose.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FETCH_MAX_BODY_BYTES, FETCH_MAX_CONCURRENT } from '../../src/sandbox/isolate/fetch-bridge.js';
import { createIsolateTier } from '../../src/sandbox/isolate/index.js';
import type { SandboxInstance, SandboxTier } from '../../src/sandbox/tier.js';
import { assertResult } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

const HANDLER = `
const caught = (err) => ({ error: err.message, name: err.name, code: err.code ?? null });
exports.handler = async (event) => {
  const base = event.base;
  switch (event.op) {
    case 'type': return { fetch: typeof fetch, Headers: typeof Headers };
    case 'json': {
      const r = await fetch(base + '/json');
      return { ok: r.ok, status: r.status, type: r.headers.get('Content-Type'), body: await r.json(), url: r.url };
    }
    case 'post': {
      const headers = new Headers([['x-one', '1']]);
      headers.append('X-Two', 'two');
      const r = await fetch(new URL('/echo?q=1', base), { method: 'post', headers, body: 'héllo' });
      const h = [];
      r.headers.forEach((v, k) => h.push(k));
      return { status: r.status, has: r.headers.has('x-echo'), names: h, echoed: await r.json() };
    }
    case 'bytes': {
      const r = await fetch(base + '/echo', { method: 'PUT', headers: { 'x-kind': 'bytes' }, body: new Uint8Array([1, 2, 255]) });
      const again = await r.clone().arrayBuffer();
      return { echoed: await r.json(), cloned: again.byteLength };
    }
    case 'missing': {
      const r = await fetch(base + '/missing');
      return { ok: r.ok, status: r.status, statusText: r.statusText, text: await r.text() };
    }
    case 'redirect': {
      const r = await fetch(base + '/redirect');
      return { status: r.status, url: r.url, redirected: r.redirected };
    }
    case 'refused': await fetch(base + '/json'); return 'unreachable';
    case 'big': try { await fetch(base + '/big'); return 'no error'; } catch (err) { return caught(err); }
    case 'declared': try { await fetch(base + '/declared'); return 'no error'; } catch (err) { return caught(err); }
    case 'file': try { await fetch('file:///etc/passwd'); return 'no error'; } catch (err) { return caught(err); }
    case 'many': {
      for (let i = 0; i < event.n; i++) fetch(base + '/hang').catch(() => undefined);
      try { await fetch(base + '/hang'); return 'no error'; } catch (err) { return caught(err); }
    }
    default: return event.op;
  }
};
`;

/** A loopback server with the routes the handler uses; counts the hanging requests it has seen. */
class TestServer {
  readonly server: Server;
  base = '';
  hanging = 0;
  hangClosed = 0;
  private waiters: (() => void)[] = [];

  constructor() {
    this.server = createServer((req, res) => void this.route(req, res));
  }

  async listen(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once `test()` holds (checked on every hanging request's arrival and close). */
  until(test: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (test()) resolve();
        else this.waiters.push(check);
      };
      check();
    });
  }

  private changed(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const path = new URL(req.url ?? '/', this.base).pathname;
    res.on('error', () => undefined); // the client may go away mid-body (the size limit)
    switch (path) {
      case '/json':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'world' }));
        return;
      case '/echo':
        res.writeHead(201, { 'content-type': 'application/json', 'x-echo': 'yes' }).end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            headers: req.headers,
            text: body.toString('utf8'),
            bytes: [...body],
          }),
        );
        return;
      case '/redirect':
        res.writeHead(302, { location: '/json' }).end();
        return;
      case '/big': {
        // No content-length: the limit must be found while reading.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.write(Buffer.alloc(1024, 1)); // headers go out chunked, before the bulk
        res.end(Buffer.alloc(FETCH_MAX_BODY_BYTES, 1));
        return;
      }
      case '/declared':
        res.writeHead(200, { 'content-length': String(FETCH_MAX_BODY_BYTES + 1) });
        res.write('x'); // the header alone must be enough to refuse
        return;
      case '/hang':
        this.hanging++;
        res.on('close', () => {
          this.hangClosed++;
          this.changed();
        });
        this.changed();
        return; // never answers: only an abort ends it
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such thing');
    }
  }
}

// Every wait below is bounded by this timeout, never by a wall-clock threshold of its own.
describe('isolate tier fetch', { timeout: 60_000 }, () => {
  const dirs = new FixtureDirs();
  const server = new TestServer();
  let tier: SandboxTier;
  let dir: string;
  let net: SandboxInstance;
  before(async () => {
    await server.listen();
    tier = createIsolateTier();
    dir = await dirs.make({ 'fetcher.cjs': HANDLER });
    net = await tier.start(specFor(dir, 'fetcher.cjs', { network: true }));
  });
  after(async () => {
    await tier.close();
    server.server.closeAllConnections();
    server.server.close();
    await dirs.cleanup();
  });
  const call = (instance: SandboxInstance, event: Record<string, unknown>) =>
    instance.invoke({
      requestId: `r-${Math.random()}`,
      event: { base: server.base, ...event },
      timeoutMs: 30_000,
    });

  test('fetch and Headers exist only when network is true', async () => {
    assert.deepEqual(assertResult(await call(net, { op: 'type' })), {
      fetch: 'function',
      Headers: 'function',
    });
    for (const network of [false, undefined]) {
      const instance = await tier.start(specFor(dir, 'fetcher.cjs', network === false ? { network } : {}));
      assert.deepEqual(assertResult(await call(instance, { op: 'type' })), {
        fetch: 'undefined',
        Headers: 'undefined',
      });
      await instance.stop();
    }
  });

  test('GET with a JSON response', async () => {
    assert.deepEqual(assertResult(await call(net, { op: 'json' })), {
      ok: true,
      status: 200,
      type: 'application/json',
      body: { hello: 'world' },
      url: `${server.base}/json`,
    });
  });

  test('POST sends the method, headers and a string body', async () => {
    const result = assertResult(await call(net, { op: 'post' })) as {
      status: number;
      has: boolean;
      names: string[];
      echoed: { method: string; url: string; headers: Record<string, string>; text: string };
    };
    assert.equal(result.status, 201);
    assert.equal(result.has, true);
    assert.ok(result.names.includes('x-echo'));
    assert.equal(result.echoed.method, 'POST');
    assert.equal(result.echoed.url, '/echo?q=1');
    assert.equal(result.echoed.text, 'héllo');
    assert.equal(result.echoed.headers['x-one'], '1');
    assert.equal(result.echoed.headers['x-two'], 'two');
    assert.equal(result.echoed.headers['content-type'], 'text/plain;charset=UTF-8');
  });

  test('a typed array body is sent as bytes; clone() reads the body twice', async () => {
    const result = assertResult(await call(net, { op: 'bytes' })) as {
      echoed: { method: string; bytes: number[]; headers: Record<string, string> };
      cloned: number;
    };
    assert.equal(result.echoed.method, 'PUT');
    assert.deepEqual(result.echoed.bytes, [1, 2, 255]);
    assert.equal(result.echoed.headers['x-kind'], 'bytes');
    assert.ok(result.cloned > 0);
  });

  test('a 404 resolves with ok false', async () => {
    assert.deepEqual(assertResult(await call(net, { op: 'missing' })), {
      ok: false,
      status: 404,
      statusText: 'Not Found',
      text: 'no such thing',
    });
  });

  test('redirects are followed by default', async () => {
    assert.deepEqual(assertResult(await call(net, { op: 'redirect' })), {
      status: 200,
      url: `${server.base}/json`,
      redirected: true,
    });
  });

  test('a refused connection rejects with what failed', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const outcome = await call(net, { op: 'refused', base: `http://127.0.0.1:${port}` });
    assert.equal(outcome.ok, false);
    if (outcome.ok) return;
    assert.equal(outcome.error.code, 'KINDLING_HANDLER_ERROR');
    assert.match(outcome.error.message, new RegExp(`fetch failed: ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
    assert.equal(outcome.error.details?.errorType, 'TypeError');
  });

  test('a response body over the limit is refused, streamed or declared', async () => {
    for (const op of ['big', 'declared']) {
      const result = assertResult(await call(net, { op })) as { error: string; name: string; code: string };
      assert.equal(result.name, 'TypeError');
      assert.equal(result.code, 'KINDLING_PAYLOAD_TOO_LARGE');
      assert.match(result.error, new RegExp(`over the limit of ${FETCH_MAX_BODY_BYTES} bytes \\(6 MiB\\)`));
    }
    // The instance is still healthy afterwards.
    assert.equal((assertResult(await call(net, { op: 'json' })) as { status: number }).status, 200);
  });

  test('only http: and https: URLs are allowed', async () => {
    const result = assertResult(await call(net, { op: 'file' })) as { error: string; name: string };
    assert.equal(result.name, 'TypeError');
    assert.match(result.error, /only http: and https: URLs are allowed/);
  });

  test('concurrent fetches are capped, and stopping the instance aborts those in flight', async () => {
    const instance = await tier.start(specFor(dir, 'fetcher.cjs', { network: true }));
    const closedBefore = server.hangClosed;
    const result = assertResult(await call(instance, { op: 'many', n: FETCH_MAX_CONCURRENT })) as {
      error: string;
      code: string;
    };
    assert.equal(result.code, 'KINDLING_TOO_MANY_REQUESTS');
    assert.match(result.error, new RegExp(`the limit is ${FETCH_MAX_CONCURRENT}`));
    await server.until(() => server.hanging >= FETCH_MAX_CONCURRENT);
    await instance.stop();
    // Each aborted request closes its connection on the server.
    await server.until(() => server.hangClosed - closedBefore >= FETCH_MAX_CONCURRENT);
  });
});
