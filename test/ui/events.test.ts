/** The dashboard's server side: feed tokens, the tenant-scoped live feed, the page and its read-only routes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { EventFeed, type Tick } from '../../src/api/event-feed.js';
import { EventTokens } from '../../src/api/event-tokens.js';
import { openDatabase } from '../../src/control/db.js';
import { InvocationStore } from '../../src/control/invocations.js';
import { Scheduler } from '../../src/control/scheduler.js';
import { emptyPhases } from '../../src/core/phases.js';
import { startPlatform } from '../../src/platform.js';
import { fixture, startTestPlatform, tempDir } from '../helpers/platform.js';
import { openStream, readEvents } from '../helpers/sse.js';

type P = Awaited<ReturnType<typeof startTestPlatform>>;

describe('event-feed tokens', () => {
  it('accepts its own tokens until they expire, and nothing else', () => {
    const clock = new ManualClock(1_000_000);
    const tokens = new EventTokens(clock, 60_000);
    const { token, expiresAt } = tokens.issue({ tenant: 'acme', role: 'tenant' });
    assert.equal(expiresAt, 1_060_000);
    assert.deepEqual(tokens.verify(token), { tenant: 'acme', role: 'tenant', expiresAt });

    const refused = (t: unknown, pattern: RegExp) =>
      assert.throws(
        () => tokens.verify(t),
        (err: unknown) =>
          KindlingError.is(err) && err.code === 'KINDLING_UNAUTHORIZED' && pattern.test(err.message),
      );
    const [body, sig] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ t: 'default', r: 'admin', e: expiresAt })).toString(
      'base64url',
    );
    refused(`${forged}.${sig}`, /invalid event-feed token/);
    refused(`${body}.${sig.slice(1)}`, /invalid event-feed token/);
    refused(`${body}.${sig}.x`, /invalid event-feed token/);
    refused(undefined, /needs \?token=/);
    refused(new EventTokens(clock).issue({ tenant: 'acme', role: 'tenant' }).token, /invalid/);

    clock.advance(60_000);
    refused(token, /expired/);
  });
});

describe('EventFeed', () => {
  const done = (cold: boolean, totalMs: number, failed = false) => ({
    status: failed ? ('failed' as const) : ('succeeded' as const),
    logs: [],
    logsDroppedBytes: 0,
    cold,
    phases: { ...emptyPhases(), exec: totalMs },
    totalMs,
    ...(failed ? { error: { code: 'KINDLING_HANDLER_ERROR' as const, message: 'boom' } } : {}),
  });
  const base = (id: string, tenant: string, mode: 'sync' | 'async' = 'sync') => ({
    id,
    tenant,
    functionName: 'f',
    version: 1,
    mode,
    createdAt: 1,
  });

  it('batches per tick, scopes to the tenant, keeps a one-minute window, stops when nobody listens', () => {
    const clock = new ManualClock(1_000_000);
    const store = new InvocationStore(openDatabase(':memory:'));
    const feed = new EventFeed({ invocations: store, scheduler: new Scheduler([]), clock, tickMs: 1000 });
    feed.start();
    // Before anyone watches, the window still counts (a page opened later shows the last minute).
    store.recordSync(base('early', 'a'), done(true, 40));
    const a: Tick[] = [];
    const admin: Tick[] = [];
    const stopA = feed.subscribe({ principal: { tenant: 'a', role: 'tenant' }, send: (t) => a.push(t) });
    feed.subscribe({ principal: { tenant: 'root', role: 'admin' }, send: (t) => admin.push(t) });
    assert.equal(a[0]!.window.invocations, 1, 'the first tick at once, with the window so far');
    assert.deepEqual(a[0]!.recent, []);

    store.recordSync(base('a1', 'a'), done(false, 2));
    store.recordSync(base('b1', 'b'), done(false, 4, true));
    store.enqueue({
      id: 'a2',
      tenant: 'a',
      functionName: 'f',
      version: 1,
      payload: '{}',
      createdAt: 2,
    });
    store.claimNext(3);
    store.complete('a2', done(true, 10));
    clock.advance(1000);
    const tickA = a.at(-1)!;
    assert.deepEqual(
      tickA.recent.map((r) => [r.id, r.tenant, r.mode, r.cold]),
      [
        ['a1', 'a', 'sync', false],
        ['a2', 'a', 'async', true],
      ],
    );
    assert.equal(tickA.invocations, 2);
    assert.equal(tickA.cold, 1);
    assert.deepEqual(tickA.window, { ms: 60_000, invocations: 3, cold: 2, p50: 10, p99: 40 });
    assert.deepEqual(tickA.functions, { 'a/f': [3, 2, 0] });
    const tickAdmin = admin.at(-1)!;
    assert.equal(tickAdmin.invocations, 3);
    assert.equal(tickAdmin.errors, 1);
    assert.deepEqual(tickAdmin.functions, { 'a/f': [3, 2, 0], 'b/f': [1, 0, 1] });

    clock.advance(60_000);
    assert.deepEqual(a.at(-1)!.window, { ms: 60_000, invocations: 0, cold: 0, p50: 0, p99: 0 });
    const sent = a.length;
    stopA();
    clock.advance(5000);
    assert.equal(a.length, sent, 'no ticks after unsubscribing');
    feed.stop();
    clock.advance(5000);
    assert.equal(feed.subscriberCount, 0);
  });
});

describe('the live feed and the dashboard routes', () => {
  let p: P;
  let acmeKey: string;
  before(async () => {
    p = await startTestPlatform([fixture('echo')]);
    acmeKey = p.tenants.createTenant('acme').apiKey;
    await p.deployer.deployDirectory('acme', fixture('echo'), 'acme-echo');
  });
  after(async () => {
    await p.close();
  });

  const open = async (key: string) => {
    const token = await p.call('POST', '/v1/events/token', undefined, key);
    assert.equal(token.status, 200);
    const res = await fetch(`${p.url}/v1/events?token=${encodeURIComponent(token.body.token)}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    return res;
  };

  it("sends a tenant its own invocations only, batched per tick; an admin gets every tenant's", async () => {
    const acme = await open(acmeKey);
    const admin = await open(p.adminKey);
    const mine = await p.call('POST', '/v1/functions/acme-echo/invoke', { n: 1 }, acmeKey);
    const theirs = await p.call('POST', '/v1/functions/echo/invoke', { n: 2 });
    const mineId = mine.headers.get('x-kindling-invocation-id');
    const theirId = theirs.headers.get('x-kindling-invocation-id');
    // The admin's stream shows both; by the tick that carries the second, the first is sent too.
    const all = await readEvents(admin, (evs) => {
      const ids = evs.flatMap((e) => e.data.recent.map((r: any) => r.id));
      return ids.includes(mineId) && ids.includes(theirId);
    });
    const last = all.at(-1)!.data;
    assert.ok(last.functions['acme/acme-echo'] && last.functions['default/echo']);

    const seen = await readEvents(acme, (evs) =>
      evs.some((e) => e.data.recent.some((r: any) => r.id === mineId)),
    );
    const first = seen[0]!.data;
    assert.deepEqual(Object.keys(first.instances).sort(), [], 'acme had no instances when it connected');
    for (const e of seen) {
      assert.equal(e.event, 'tick');
      for (const r of e.data.recent) assert.equal(r.tenant, 'acme', 'only acme invocations');
      for (const key of Object.keys(e.data.functions)) assert.match(key, /^acme\//);
    }
    const tick = seen.find((e) => e.data.recent.some((r: any) => r.id === mineId))!.data;
    const summary = tick.recent.find((r: any) => r.id === mineId);
    const record = (await p.call('GET', `/v1/invocations/${mineId}`, undefined, acmeKey)).body;
    assert.deepEqual(summary.phases, record.phases, 'the feed carries the recorded phases');
    assert.equal(summary.cold, true);
    assert.equal(tick.window.invocations, 1);
    assert.equal(tick.window.cold, 1);
    assert.deepEqual(tick.functions, { 'acme/acme-echo': [1, 1, 0] });
  });

  it('refuses the feed without a valid token, with a stable code', async () => {
    for (const path of ['/v1/events', '/v1/events/cluster'])
      for (const q of ['', '?token=', '?token=abc.def']) {
        const res = await p.call('GET', `${path}${q}`, undefined, undefined);
        assert.equal(res.status, 401);
        assert.equal(res.body.error.code, 'KINDLING_UNAUTHORIZED');
      }
    assert.equal((await p.call('POST', '/v1/events/token', undefined, 'kdl_nope')).status, 401);
  });

  it('serves the page for every view path, its assets, and nothing outside them', async () => {
    for (const path of ['/ui/', '/ui/functions/echo', '/ui/functions/nope', '/ui/cluster']) {
      const res = await fetch(p.url + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type')!, /text\/html/);
      assert.match(res.headers.get('content-security-policy')!, /default-src 'self'/);
      assert.match(await res.text(), /<div id="app">/);
    }
    assert.equal((await fetch(`${p.url}/ui`, { redirect: 'manual' })).headers.get('location'), '/ui/');
    const js = await fetch(`${p.url}/ui/assets/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type')!, /javascript/);
    for (const bad of [
      '/ui/assets/nope.js',
      '/ui/assets/..%2Findex.html',
      '/ui/assets/%2E%2E%2F..%2Fpackage.json',
    ]) {
      const res = await p.call('GET', bad, undefined, undefined);
      assert.equal(res.status, 404, bad);
      assert.equal(res.body.error.code, 'KINDLING_NOT_FOUND');
    }
  });

  it('shows the embedded host and each function’s keep-alive policy, scoped to the tenant', async () => {
    const cluster = await p.call('GET', '/v1/ui/cluster', undefined, acmeKey);
    assert.equal(cluster.body.mode, 'embedded');
    assert.deepEqual(cluster.body.trees, []);
    // The same view, live: the stream's first event comes at once, scoped the same way.
    const [live] = await readEvents(
      await openStream(p.url, acmeKey, '/v1/events/cluster'),
      (e) => e.length > 0,
    );
    assert.equal(live!.event, 'cluster');
    assert.equal(live!.data.mode, 'embedded');
    assert.equal(live!.data.hosts[0].instances.process.idle, 1);
    assert.equal(cluster.body.hosts.length, 1);
    assert.ok(cluster.body.hosts[0].memory.totalBytes > 0);
    assert.equal(
      cluster.body.hosts[0].instances.process.idle,
      1,
      "acme's one warm instance, not the admin's",
    );

    const policy = await p.call('GET', '/v1/functions/acme-echo/policy', undefined, acmeKey);
    assert.equal(policy.status, 200);
    assert.equal(policy.body.policy, 'fixed');
    assert.equal(policy.body.keepAliveMs, 600_000);
    assert.equal((await p.call('GET', '/v1/functions/echo/policy', undefined, acmeKey)).status, 404);

    const list = await p.call('GET', '/v1/ui/policies', undefined, acmeKey);
    assert.deepEqual(
      list.body.policies.map((x: any) => x.function),
      ['acme-echo'],
    );
    const all = await p.call('GET', '/v1/ui/policies');
    assert.deepEqual(all.body.policies.map((x: any) => `${x.tenant}/${x.function}`).sort(), [
      'acme/acme-echo',
      'default/echo',
    ]);
  });
});

describe('a feed stream', () => {
  it('ends with an "expired" event when its token runs out, and does not hold the platform open', async () => {
    const clock = new ManualClock(Date.now());
    const p = await startPlatform({ dataDir: tempDir(), port: 0, clock, stemCells: 0 });
    try {
      const token = await fetch(`${p.url}/v1/events/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${p.adminKey}` },
      }).then((r) => r.json() as Promise<{ token: string; expiresAt: number }>);
      assert.equal(token.expiresAt, clock.now() + 5 * 60_000);
      const res = await fetch(`${p.url}/v1/events?token=${encodeURIComponent(token.token)}`);
      const first = await readEvents(res, (evs) => evs.length > 0);
      assert.equal(first[0]!.event, 'tick');

      // Headers arrive once the stream is subscribed and its expiry timer set.
      const open = await fetch(`${p.url}/v1/events?token=${encodeURIComponent(token.token)}`);
      const ending = readEvents(open, (evs) => evs.some((e) => e.event === 'expired'));
      clock.advance(5 * 60_000);
      const events = await ending;
      assert.equal(events.at(-1)!.event, 'expired');
      const again = await fetch(`${p.url}/v1/events?token=${encodeURIComponent(token.token)}`);
      assert.equal(again.status, 401);
      assert.match(((await again.json()) as any).error.message, /expired/);

      // One more stream left open: closing the platform ends it rather than waiting for it.
      const token2 = await fetch(`${p.url}/v1/events/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${p.adminKey}` },
      }).then((r) => r.json() as Promise<{ token: string }>);
      const lingering = await fetch(`${p.url}/v1/events?token=${encodeURIComponent(token2.token)}`);
      const ended = readEvents(lingering, () => false);
      await p.close();
      await ended;
    } finally {
      await p.close();
    }
  });
});
