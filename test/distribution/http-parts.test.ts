/**
 * The HTTP parts on their own: the token bucket on a manual clock, the transport's error mapping
 * against real servers on 127.0.0.1, and the control-plane routes' validation and auth.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { ManualClock, systemClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { DistributionHub } from '../../src/distribution/distribution-hub.js';
import { registerDistributionRoutes } from '../../src/distribution/distribution-routes.js';
import { HttpTransport } from '../../src/distribution/http-transport.js';
import { peerBlobRoutes } from '../../src/distribution/peer-server.js';
import { SwarmStrategy } from '../../src/distribution/swarm-strategy.js';
import { TokenBucket } from '../../src/distribution/token-bucket.js';
import { BlobStore } from '../../src/image/blob-store.js';
import { listen, tempDir } from './cluster-harness.js';

const isCode = (code: string) => (e: unknown) => KindlingError.is(e) && e.code === code;
const D = `sha256:${'ab'.repeat(32)}`;
const req = { fn: 'acme/fn', repository: 'acme/fn', digest: D, host: 'me' };

/** A temp directory and servers to close, cleaned up after the suite that asks for them. */
function suiteResources(prefix: string) {
  const tmp = tempDir(prefix);
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
    tmp.cleanup();
  });
  return { tmp, closers };
}

describe('TokenBucket', () => {
  it('lets a burst through at once and the rest only as the clock moves', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstBytes: 500, clock });
    await bucket.take(500);
    let done = false;
    const next = bucket.take(1000).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    clock.advance(500);
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    clock.advance(500);
    await next;
    assert.equal(done, true);
  });
});

describe('HttpTransport and the peer server', () => {
  const { tmp, closers } = suiteResources('kindling-http-parts-');

  it('maps a missing block, a missing address, a refused connection and a wrong token to stable codes', async () => {
    const store = new BlobStore(`${tmp.dir}/peer`);
    const good = await store.put(Buffer.from('a block'));
    const app = Fastify({ logger: false });
    await peerBlobRoutes(app, { store, clock: systemClock, token: 't' });
    const url = await listen(app);
    closers.push(() => app.close());
    const peers = new Map([
      ['p', url],
      ['gone', 'http://127.0.0.1:1'],
    ]);
    const t = new HttpTransport({ registryUrl: 'http://127.0.0.1:1', peers, peerToken: 't' });
    const bytes = await t.fetchBlock({ kind: 'peer', host: 'p' }, { ...req, digest: good });
    assert.equal(Buffer.from(bytes).toString(), 'a block');
    await assert.rejects(t.fetchBlock({ kind: 'peer', host: 'p' }, req), isCode('KINDLING_BLOB_UNKNOWN'));
    await assert.rejects(t.fetchBlock({ kind: 'peer', host: 'nobody' }, req), isCode('KINDLING_UNAVAILABLE'));
    await assert.rejects(t.fetchBlock({ kind: 'peer', host: 'gone' }, req), isCode('KINDLING_UNAVAILABLE'));
    await assert.rejects(t.fetchBlock({ kind: 'registry' }, req), isCode('KINDLING_UNAVAILABLE'));
    const wrong = new HttpTransport({ registryUrl: 'http://127.0.0.1:1', peers, peerToken: 'x' });
    await assert.rejects(
      wrong.fetchBlock({ kind: 'peer', host: 'p' }, { ...req, digest: good }),
      isCode('KINDLING_UNAUTHORIZED'),
    );
    assert.throws(
      () => new HttpTransport({ registryUrl: 'ftp://x', peers }),
      isCode('KINDLING_INVALID_CONFIG'),
    );
  });
});

describe('HttpTransport and a peer that joined after the last heartbeat', () => {
  const { tmp, closers } = suiteResources('kindling-refresh-');

  it('refreshes the address book once for concurrent misses, then fetches; a peer still unknown is unavailable', async () => {
    const store = new BlobStore(`${tmp.dir}/peer`);
    const good = await store.put(Buffer.from('a block'));
    const app = Fastify({ logger: false });
    await peerBlobRoutes(app, { store, clock: systemClock });
    const url = await listen(app);
    closers.push(() => app.close());
    const book = new Map<string, string>();
    let refreshes = 0;
    const t = new HttpTransport({
      registryUrl: 'http://127.0.0.1:1',
      peers: book,
      refreshPeers: async () => {
        refreshes++;
        await new Promise((r) => setTimeout(r, 20));
        book.set('late', url);
      },
    });
    const got = await Promise.all(
      [1, 2, 3].map(() => t.fetchBlock({ kind: 'peer', host: 'late' }, { ...req, digest: good })),
    );
    for (const bytes of got) assert.equal(Buffer.from(bytes).toString(), 'a block');
    assert.equal(refreshes, 1);
    await assert.rejects(
      t.fetchBlock({ kind: 'peer', host: 'nobody' }, { ...req, digest: good }),
      isCode('KINDLING_UNAVAILABLE'),
    );
    assert.equal(refreshes, 2);
    const failing = new HttpTransport({
      registryUrl: 'http://127.0.0.1:1',
      peers: new Map(),
      refreshPeers: () => Promise.reject(new Error('control plane down')),
    });
    await assert.rejects(
      failing.fetchBlock({ kind: 'peer', host: 'late' }, { ...req, digest: good }),
      isCode('KINDLING_UNAVAILABLE'),
    );
  });
});

describe('bandwidth limits over real HTTP', () => {
  const tmp = tempDir('kindling-bw-');
  after(() => tmp.cleanup());

  for (const side of ['upload (peer server)', 'download (transport)'] as const) {
    it(`a ${side} limit holds a block back until the clock has moved far enough`, async () => {
      const clock = new ManualClock();
      const store = new BlobStore(`${tmp.dir}/${side.startsWith('up') ? 'up' : 'down'}`);
      const digest = await store.put(Buffer.alloc(256 * 1024, 7));
      const rate = 64 * 1024;
      const app = Fastify({ logger: false });
      await peerBlobRoutes(app, {
        store,
        clock,
        ...(side.startsWith('up') ? { upBytesPerSecond: rate } : {}),
      });
      const url = await listen(app);
      const t = new HttpTransport({
        registryUrl: 'http://127.0.0.1:1',
        peers: new Map([['p', url]]),
        clock,
        ...(side.startsWith('down') ? { downBytesPerSecond: rate } : {}),
      });
      let done = false;
      const got = t.fetchBlock({ kind: 'peer', host: 'p' }, { ...req, digest }).then((b) => {
        done = true;
        return b;
      });
      // 256 KiB at 64 KiB/s with a 64 KiB burst: at least three seconds of (manual) time.
      let seconds = 0;
      while (!done) {
        await new Promise((r) => setTimeout(r, 5));
        if (done) break;
        clock.advance(1000);
        seconds++;
      }
      assert.equal((await got).length, 256 * 1024);
      assert.ok(seconds >= 3, `finished after ${seconds} s of manual time`);
      await app.close();
    });
  }
});

describe('distribution routes', () => {
  it('validate bodies and check the bearer token', async () => {
    const app = Fastify({ logger: false });
    const hub = new DistributionHub({ strategies: [new SwarmStrategy()], clock: systemClock });
    await registerDistributionRoutes(app, hub, { token: 'secret' });
    const auth = { authorization: 'Bearer secret' };
    const noAuth = await app.inject({ method: 'POST', url: '/v1/cluster/distribution/join', payload: {} });
    assert.equal(noAuth.statusCode, 401);
    assert.equal(noAuth.json().error.code, 'KINDLING_UNAUTHORIZED');
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/cluster/distribution/sources',
      headers: auth,
      payload: { host: 'a', fn: 'f', repository: 'r', digests: ['nope'] },
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error.message, /digests\.0/);
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/cluster/distribution/sources',
      headers: auth,
      payload: { host: 'a', fn: 'f', repository: 'r', digests: [D] },
    });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json().blocks, [{ digest: D, sources: [{ kind: 'registry' }] }]);
    assert.equal(ok.json().strategy, 'swarm');
    await app.close();
  });
});
