/**
 * Foreground first on a server's uplink: the gate on a manual clock, the transport's priority header,
 * and the peer server holding a background block back while a foreground one is being sent.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { HttpTransport } from '../../src/distribution/http-transport.js';
import { peerBlobRoutes } from '../../src/distribution/peer-server.js';
import { PRIORITY_HEADER, UploadPriority } from '../../src/distribution/upload-priority.js';
import { BlobStore } from '../../src/image/blob-store.js';
import { headerProbe, listen, pollUntil, recordSends, settleOnClock, tempDir } from './cluster-harness.js';

const isCode = (code: string) => (e: unknown) => KindlingError.is(e) && e.code === code;
const tick = () => new Promise((r) => setImmediate(r));

/** Whether `p` has settled after the pending callbacks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await tick();
  return done;
}

describe('UploadPriority', () => {
  it('lets background through at once when nothing is in the foreground', async () => {
    const gate = new UploadPriority({ clock: new ManualClock() });
    assert.equal(await settled(gate.background()), true);
    assert.equal(gate.stats.backgroundDelayed, 0);
  });

  it('holds background while foreground runs, and lingerMs after the last one ends', async () => {
    const clock = new ManualClock();
    const gate = new UploadPriority({ clock, lingerMs: 20, maxBackgroundWaitMs: 10_000 });
    const endA = gate.foreground();
    const endB = gate.foreground();
    const bg = gate.background();
    assert.equal(await settled(bg), false);
    endA();
    endA(); // a second call changes nothing
    clock.advance(100);
    assert.equal(await settled(bg), false, 'one foreground upload is still running');
    endB();
    clock.advance(10);
    assert.equal(await settled(bg), false, 'within the linger time');
    // A foreground upload that starts during the linger keeps background waiting.
    const endC = gate.foreground();
    clock.advance(50);
    assert.equal(await settled(bg), false);
    endC();
    clock.advance(20);
    assert.equal(await settled(bg), true);
    assert.equal(gate.stats.backgroundDelayed, 1);
    assert.equal(gate.stats.backgroundWaitCapped, 0);
    assert.equal(gate.stats.backgroundWaiting, 0);
  });

  it('never holds background longer than maxBackgroundWaitMs', async () => {
    const clock = new ManualClock();
    const gate = new UploadPriority({ clock, maxBackgroundWaitMs: 500 });
    gate.foreground();
    const bg = gate.background();
    clock.advance(499);
    assert.equal(await settled(bg), false);
    clock.advance(1);
    assert.equal(await settled(bg), true);
    assert.equal(gate.stats.backgroundWaitCapped, 1);
  });

  it('rejects a waiting background request whose requester went away', async () => {
    const gate = new UploadPriority({ clock: new ManualClock() });
    gate.foreground();
    const gone = new AbortController();
    const bg = gate.background(gone.signal);
    gone.abort(new KindlingError('KINDLING_UNAVAILABLE', 'gone'));
    await assert.rejects(bg, isCode('KINDLING_UNAVAILABLE'));
    assert.equal(gate.stats.backgroundWaiting, 0);
  });

  it('rejects bad options', () => {
    const clock = new ManualClock();
    assert.throws(
      () => new UploadPriority({ clock, maxBackgroundWaitMs: 0 }),
      isCode('KINDLING_INVALID_CONFIG'),
    );
    assert.throws(() => new UploadPriority({ clock, lingerMs: -1 }), isCode('KINDLING_INVALID_CONFIG'));
  });
});

describe('priority over real HTTP', () => {
  const tmp = tempDir('kindling-priority-');
  after(() => tmp.cleanup());

  it('the transport marks background requests, and only those', async () => {
    const probe = await headerProbe(PRIORITY_HEADER);
    const t = new HttpTransport({ registryUrl: probe.url, peers: new Map() });
    const req = { fn: 'acme/fn', repository: 'acme/fn', digest: `sha256:${'ab'.repeat(32)}`, host: 'me' };
    await assert.rejects(t.fetchBlock({ kind: 'registry' }, req), isCode('KINDLING_BLOB_UNKNOWN'));
    await assert.rejects(
      t.fetchBlock({ kind: 'registry' }, { ...req, background: true }),
      isCode('KINDLING_BLOB_UNKNOWN'),
    );
    assert.deepEqual(probe.seen, [undefined, 'background']);
    await probe.close();
  });

  it('a peer server sends a background block only after the foreground block in flight', async () => {
    // The upload limit (on a manual clock) keeps the foreground response on the wire for seconds of
    // clock time. The wait cap is out of reach: a loaded machine may advance the clock many times
    // between two chunks, and the test is about the order, not the cap.
    const clock = new ManualClock();
    const store = new BlobStore(`${tmp.dir}/peer`);
    const big = await store.put(Buffer.alloc(256 * 1024, 1));
    const small = await store.put(Buffer.alloc(1024, 2));
    const app = Fastify({ logger: false });
    const served = recordSends(app, (url) => (url.endsWith(big) ? 'foreground' : 'background'));
    const priority = new UploadPriority({ clock, lingerMs: 0, maxBackgroundWaitMs: 3_600_000 });
    await peerBlobRoutes(app, { store, clock, upBytesPerSecond: 64 * 1024, priority });
    try {
      const url = await listen(app);
      const t = new HttpTransport({ registryUrl: 'http://127.0.0.1:1', peers: new Map([['p', url]]) });
      const base = { fn: 'acme/fn', repository: 'acme/fn', host: 'me' };
      const fg = t.fetchBlock({ kind: 'peer', host: 'p' }, { ...base, digest: big });
      // The foreground response has started (its first chunk took the burst) before the background asks.
      await pollUntil(() => priority.stats.foregroundActive > 0, 400);
      assert.equal(priority.stats.foregroundActive, 1, 'the foreground response never started');
      const bg = t.fetchBlock({ kind: 'peer', host: 'p' }, { ...base, digest: small, background: true });
      // The clock stands still until the background request is waiting at the gate, however long it
      // takes to arrive: the foreground response is stuck after its first chunk until then.
      await pollUntil(() => priority.stats.backgroundWaiting > 0, 2_000);
      assert.equal(
        priority.stats.backgroundWaiting,
        1,
        `the background request did not wait: ${JSON.stringify(served)}`,
      );
      const results = await settleOnClock(clock, [fg, bg]);
      assert.ok(results, `the transfers did not finish; the server did ${JSON.stringify(served)}`);
      for (const r of results)
        assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason));
      assert.deepEqual(served, ['send foreground', 'sent foreground', 'send background', 'sent background']);
      assert.equal(priority.stats.backgroundDelayed, 1);
      assert.equal(priority.stats.backgroundWaitCapped, 0);
    } finally {
      // A failed assertion leaves the foreground response stalled on the stopped clock: cut it.
      app.server.closeAllConnections();
      await app.close();
    }
  });
});
