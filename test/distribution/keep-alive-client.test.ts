/**
 * The worker's keep-alive HTTP client against real servers on 127.0.0.1: connection reuse, the one
 * retry when a reused connection turns out closed, size limits, bodies cut off, and aborts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { KeepAliveClient, readBody } from '../../src/distribution/keep-alive-client.js';

/** A server whose handler sees each request with the number of the request on its connection. */
async function serve(
  handle: (res: ServerResponse, nthOnSocket: number, socket: Socket) => void,
): Promise<{ url: URL; server: Server; connections: () => number }> {
  const perSocket = new Map<Socket, number>();
  const server = createServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    req.resume();
    handle(res, n, req.socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: new URL(`http://127.0.0.1:${port}/x`), server, connections: () => perSocket.size };
}

const limits = (limitBytes: number) => ({
  limitBytes,
  onTooLarge: () => new Error('too large'),
  onBrokenOff: (err: Error, received: number) => new Error(`broken after ${received}: ${err.message}`),
});

describe('KeepAliveClient', () => {
  const servers: Server[] = [];
  const client = new KeepAliveClient();
  after(() => {
    client.close();
    for (const s of servers) s.close();
  });

  it('reuses one connection for requests made one after another, with bodies sent and read', async () => {
    const s = await serve((res) => res.end('ok'));
    servers.push(s.server);
    for (let i = 0; i < 5; i++) {
      const answer = await client.text(s.url, { method: 'POST', body: JSON.stringify({ i }) });
      assert.deepEqual(answer, { status: 200, text: 'ok' });
    }
    assert.equal(s.connections(), 1);
  });

  it('sends a request again on a new connection when the reused one was closed under it', async () => {
    // The second request on any connection finds it closed, as when a server's idle timeout
    // closes a kept-alive connection just as the client reuses it.
    const s = await serve((res, n, socket) => (n === 1 ? res.end('fresh') : socket.destroy()));
    servers.push(s.server);
    assert.equal((await client.text(s.url)).text, 'fresh');
    assert.equal((await client.text(s.url)).text, 'fresh');
    assert.equal(s.connections(), 2);
  });

  it('does not retry on a new connection that fails', async () => {
    const s = await serve((_res, _n, socket) => socket.destroy());
    servers.push(s.server);
    await assert.rejects(client.text(s.url), /socket hang up|ECONNRESET/);
    assert.equal(s.connections(), 1);
  });

  it('rejects with the signal’s reason when aborted', async () => {
    const s = await serve(() => undefined); // never answers
    servers.push(s.server);
    const controller = new AbortController();
    const pending = client.open(s.url, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('gave up')), 20);
    await assert.rejects(pending, /gave up/);
  });
});

describe('readBody', () => {
  const servers: Server[] = [];
  const client = new KeepAliveClient();
  after(() => {
    client.close();
    for (const s of servers) s.close();
  });

  it('refuses a body whose declared or actual length is over the limit', async () => {
    const declared = await serve((res) => {
      res.setHeader('content-length', 1000);
      res.end(Buffer.alloc(1000));
    });
    const chunked = await serve((res) => {
      res.write(Buffer.alloc(600));
      res.end(Buffer.alloc(600));
    });
    servers.push(declared.server, chunked.server);
    await assert.rejects(readBody(await client.open(declared.url), limits(999)), /too large/);
    await assert.rejects(readBody(await client.open(chunked.url), limits(999)), /too large/);
    assert.equal((await readBody(await client.open(chunked.url), limits(1200))).length, 1200);
  });

  it('reports a body the connection cut off, with the bytes received', async () => {
    const s = await serve((res, _n, socket) => {
      res.setHeader('content-length', 100);
      res.write(Buffer.alloc(10), () => setTimeout(() => socket.destroy(), 20));
    });
    servers.push(s.server);
    await assert.rejects(readBody(await client.open(s.url), limits(1000)), /broken after 10/);
  });

  it('waits for the rate limiter between pieces and keeps every byte', async () => {
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const s = await serve((res) => res.end(bytes));
    servers.push(s.server);
    let taken = 0;
    const body = await readBody(await client.open(s.url), {
      ...limits(1_000_000),
      beforeMore: async (n) => {
        taken += n;
        await new Promise((r) => setTimeout(r, 1));
      },
    });
    assert.deepEqual(body, bytes);
    assert.equal(taken, bytes.length);
  });
});
