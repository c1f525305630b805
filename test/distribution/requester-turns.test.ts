/**
 * One block at a time to each requester: the queues alone, the transport naming its host, and a
 * peer server sending two pipelined blocks for one requester one after the other.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { ManualClock } from '../../src/core/clock.js';
import { HttpTransport } from '../../src/distribution/http-transport.js';
import { peerBlobRoutes } from '../../src/distribution/peer-server.js';
import { REQUESTER_HEADER, RequesterTurns, requesterOf } from '../../src/distribution/requester-turns.js';
import { BlobStore } from '../../src/image/blob-store.js';
import { headerProbe, listen, pollUntil, recordSends, settleOnClock, tempDir } from './cluster-harness.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('RequesterTurns', () => {
  it("sends a requester's blocks in the order asked, one at a time; other requesters do not wait", async () => {
    const turns = new RequesterTurns();
    const order: string[] = [];
    const endA1 = await turns.turn('a');
    const a2 = turns.turn('a').then((end) => (order.push('a2'), end));
    const a3 = turns.turn('a').then((end) => (order.push('a3'), end));
    const endB1 = await turns.turn('b');
    await tick();
    assert.deepEqual(order, [], 'a2 went while a1 was being sent');
    endA1();
    endA1(); // ending twice is harmless: a3 still waits for a2
    const endA2 = await a2;
    await tick();
    assert.deepEqual(order, ['a2']);
    endA2();
    (await a3)();
    endB1();
    assert.equal(turns.stats.queued, 2);
    // Every line ended: a new turn goes at once.
    (await turns.turn('a'))();
  });

  it('a waiter whose requester went away leaves the line, and the next one goes', async () => {
    const turns = new RequesterTurns();
    const end1 = await turns.turn('a');
    const gone = new AbortController();
    const second = turns.turn('a', gone.signal);
    const third = turns.turn('a');
    gone.abort(new Error('went away'));
    await assert.rejects(second, /went away/);
    end1();
    (await third)();
  });

  it('names the requester by its header and the address it came from, and ignores a bad header', () => {
    const socket = { remoteAddress: '10.0.0.2' };
    assert.equal(requesterOf({ headers: { [REQUESTER_HEADER]: 'h1' }, socket }), '10.0.0.2 h1');
    assert.equal(requesterOf({ headers: {}, socket }), undefined);
    assert.equal(requesterOf({ headers: { [REQUESTER_HEADER]: '' }, socket }), undefined);
    assert.equal(requesterOf({ headers: { [REQUESTER_HEADER]: ['h1', 'h2'] }, socket }), undefined);
  });
});

describe('requester turns over real HTTP', () => {
  const tmp = tempDir('kindling-turns-');
  after(() => tmp.cleanup());

  it('the transport names the host a block is for when asked to', async () => {
    const probe = await headerProbe(REQUESTER_HEADER);
    const t = new HttpTransport({ registryUrl: probe.url, peers: new Map(), nameRequester: true });
    const req = { fn: 'acme/fn', repository: 'acme/fn', digest: `sha256:${'ab'.repeat(32)}`, host: 'h7' };
    await assert.rejects(t.fetchBlock({ kind: 'registry' }, req));
    // By default no name, so servers do not order its blocks.
    const unnamed = new HttpTransport({ registryUrl: probe.url, peers: new Map() });
    await assert.rejects(unnamed.fetchBlock({ kind: 'registry' }, req));
    assert.deepEqual(probe.seen, ['h7', undefined]);
    await probe.close();
  });

  it("a peer server sends one requester's second block after its first", async () => {
    // The upload limit on a manual clock keeps the first response on the wire until the clock moves.
    const clock = new ManualClock();
    const store = new BlobStore(`${tmp.dir}/peer`);
    const first = await store.put(Buffer.alloc(256 * 1024, 1));
    const second = await store.put(Buffer.alloc(1024, 2));
    const app = Fastify({ logger: false });
    const served = recordSends(app, (url) => (url.endsWith(first) ? 'first' : 'second'));
    const turns = new RequesterTurns();
    await peerBlobRoutes(app, { store, clock, upBytesPerSecond: 64 * 1024, turns });
    try {
      const url = await listen(app);
      const t = new HttpTransport({
        registryUrl: 'http://127.0.0.1:1',
        peers: new Map([['p', url]]),
        nameRequester: true,
      });
      const base = { fn: 'acme/fn', repository: 'acme/fn', host: 'me' };
      const a = t.fetchBlock({ kind: 'peer', host: 'p' }, { ...base, digest: first });
      await pollUntil(() => served.includes('send first'), 400);
      assert.deepEqual(served, ['send first'], 'the first response never started');
      const b = t.fetchBlock({ kind: 'peer', host: 'p' }, { ...base, digest: second });
      // The clock stands still until the second request waits for its turn.
      await pollUntil(() => turns.stats.queued > 0, 2_000);
      assert.equal(turns.stats.queued, 1, `the second request did not wait: ${JSON.stringify(served)}`);
      const results = await settleOnClock(clock, [a, b]);
      assert.ok(results, `the transfers did not finish; the server did ${JSON.stringify(served)}`);
      for (const r of results)
        assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
      assert.deepEqual(served, ['send first', 'sent first', 'send second', 'sent second']);
    } finally {
      app.server.closeAllConnections();
      await app.close();
    }
  });
});
