/**
 * Cluster mode end to end on loopback: a control plane, worker processes that register and send
 * heartbeats, placement, forwarding, and failover when a worker dies mid-invocation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import type { ClusterHostView, ClusterView, DistributionView } from '../../src/api/cluster-types.js';
import { call, eventually, fixture } from '../helpers/platform.js';
import { openStream, readEvents } from '../helpers/sse.js';

describe('cluster mode (loopback)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster([fixture('echo'), fixture('sleeper')], ['host-a', 'host-b']);
  });
  after(async () => cluster?.close());

  it('lists the registered workers with their heartbeats', async () => {
    assert.deepEqual((await cluster.hosts()).sort(), ['host-a', 'host-b']);
    const res = await cluster.call('GET', '/v1/cluster/hosts');
    for (const h of res.body.hosts) assert.ok(h.lastHeartbeatMsAgo >= 0 && typeof h.url === 'string');
  });

  it('runs an invocation on a worker: cold first, warm after, on the same host', async () => {
    const first = await cluster.call('POST', '/v1/functions/echo/invoke', { n: 1 });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get('x-kindling-cold'), '1');
    const host = first.headers.get('x-kindling-host');
    assert.ok(host === 'host-a' || host === 'host-b');
    const second = await cluster.call('POST', '/v1/functions/echo/invoke', { n: 2 });
    assert.equal(second.headers.get('x-kindling-cold'), '0');
    assert.equal(second.headers.get('x-kindling-host'), host, 'a warm instance wins placement');
    assert.deepEqual(second.body.event, { n: 2 });
    const fn = await cluster.call('GET', '/v1/functions/echo');
    assert.ok(fn.body.instances.some((v: { host: string }) => v.host === host));
  });

  it('pre-warms an instance on the host placement picks, and the next invocation finds it warm there', async () => {
    const version = cluster.platform.functions.resolve('default', 'sleeper');
    const worker = cluster.platform.scheduler.place(version);
    worker.prewarm(version, 60_000);
    await eventually(async () => {
      const fn = await cluster.call('GET', '/v1/functions/sleeper');
      return (fn.body.instances as { host: string; instances: { state: string }[] }[]).some(
        (v) => v.host === worker.hostId && v.instances.some((i) => i.state === 'idle'),
      )
        ? true
        : undefined;
    });
    const res = await cluster.call('POST', '/v1/functions/sleeper/invoke', { ms: 1 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-kindling-cold'), '0');
    assert.equal(res.headers.get('x-kindling-host'), worker.hostId);
  });

  it("feeds the dashboard's cluster view from the registered hosts", async () => {
    const view = await cluster.call('GET', '/v1/ui/cluster');
    assert.equal(view.status, 200, view.text);
    assert.equal(view.body.mode, 'cluster');
    const ids = (view.body.hosts as { id: string; memory: { totalBytes: number } }[]).map((h) => h.id);
    assert.ok(ids.includes('host-a') && ids.includes('host-b'));
    for (const h of view.body.hosts) assert.ok(h.memory.totalBytes > 0);
    const policy = await cluster.call('GET', '/v1/functions/echo/policy');
    assert.equal(policy.status, 503);
    assert.match(policy.body.error.message, /each worker host decides keep-alive/);
  });

  it("draws echo's function tree in the cluster view, with each host's transfer and bytes by origin", async () => {
    // echo is warm on one host: a cold start on the other makes it the root's child.
    for (const host of ['host-a', 'host-b'])
      assert.equal((await cluster.call('POST', `/v1/functions/echo/invoke?host=${host}`, {})).status, 200);
    const version = (await cluster.call('GET', '/v1/functions/echo/versions/1')).body;
    // Stored reports trail the blocks by a moment: wait until both hosts report the whole image.
    const tree = await eventually(async () => {
      const t = (await cluster.call('GET', '/v1/ui/cluster')).body.trees.find(
        (x: DistributionView) => x.fn === 'default/echo@1',
      ) as DistributionView | undefined;
      return t && t.hosts.length === 2 && t.hosts.every((h) => h.blocksLocal === t.image?.blocks)
        ? t
        : undefined;
    });
    assert.equal(tree.strategy, 'tree');
    assert.deepEqual(tree.image?.digest, version.imageDigest);
    assert.ok(tree.image!.blocks >= 1 && tree.image!.bytes > 0);
    const root = tree.tree!.root!;
    assert.deepEqual(
      [root.left?.host ?? root.right?.host, tree.tree!.size],
      [tree.hosts.find((h) => h.upstream !== 'registry')!.host, 2],
    );
    const top = tree.hosts.find((h) => h.host === root.host)!;
    const child = tree.hosts.find((h) => h.host !== root.host)!;
    // The root took the image from the registry, its child all of it from the root.
    assert.equal(top.upstream, 'registry');
    assert.equal(top.bytesFromRegistry, tree.image!.bytes);
    assert.equal(top.bytesFromUpstream, tree.image!.bytes);
    assert.equal(child.upstream, root.host);
    assert.deepEqual(
      [child.bytesFromPeers, child.bytesFromUpstream, child.bytesFromRegistry],
      [tree.image!.bytes, tree.image!.bytes, 0],
    );
    assert.equal(tree.bytesFromRegistry, tree.image!.bytes);
    assert.equal(tree.bytesFromPeers, tree.image!.bytes);
    const hosts = (await cluster.call('GET', '/v1/ui/cluster')).body.hosts as ClusterHostView[];
    for (const h of hosts)
      assert.ok(h.imageVersions.includes('default/echo@1'), `${h.id} holds echo's image`);

    // The live stream sends the same view; another tenant sees neither the tree nor the image names.
    const [live] = await readEvents(
      await openStream(cluster.platform.url, cluster.platform.adminKey, '/v1/events/cluster'),
      (e) => e.length > 0,
    );
    assert.equal(live!.event, 'cluster');
    assert.ok(live!.data.trees.some((t: DistributionView) => t.fn === 'default/echo@1'));
    const acme = cluster.platform.tenants.createTenant('acme-viewer').apiKey;
    const theirs = (await cluster.call('GET', '/v1/ui/cluster', undefined, acme)).body as ClusterView;
    assert.deepEqual(theirs.trees, []);
    assert.equal(theirs.hosts.length, 2);
    for (const h of theirs.hosts) assert.deepEqual(h.imageVersions, []);
  });

  it('places on a named host for an admin, and refuses an unknown one with 404', async () => {
    const other = await cluster.call('POST', '/v1/functions/echo/invoke?host=host-b', {});
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('x-kindling-host'), 'host-b');
    const unknown = await cluster.call('POST', '/v1/functions/echo/invoke?host=nope', {});
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.error.message, /no host nope/);
  });

  it('refuses bad registrations and workers without the key', async () => {
    const bad = await cluster.call('POST', '/v1/cluster/workers', { hostId: 'Bad Id', url: 'ftp://x' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /hostId/);
    const hosts = (await cluster.call('GET', '/v1/cluster/hosts')).body.hosts as { url: string }[];
    const direct = await call(hosts[0]!.url, 'wrong-key', 'POST', '/v1/worker/invoke', {});
    assert.equal(direct.status, 401);
  });

  /** The host with an invocation in flight (the one a test just started). */
  const hostRunningIt = () =>
    eventually(async () => {
      const hosts = (await cluster.call('GET', '/v1/cluster/hosts')).body.hosts as {
        hostId: string;
        inFlight: number;
      }[];
      return hosts.find((h) => h.inFlight > 0)?.hostId;
    });

  it('retries an in-flight invocation elsewhere when its worker dies, then drops the worker', async () => {
    await cluster.addWorker('host-c');
    const pending = cluster.call('POST', '/v1/functions/sleeper/invoke?', { ms: 1500, tag: 'x' });
    // Find the host running it, and kill that worker's whole process group without warning.
    const victim = await hostRunningIt();
    cluster.workers.get(victim)!.kill('SIGKILL');
    const res = await pending;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { slept: 1500, tag: 'x' });
    assert.notEqual(res.headers.get('x-kindling-host'), victim);
    await eventually(async () => ((await cluster.hosts()).includes(victim) ? undefined : true));
  });

  it('retries elsewhere once a hung worker (stopped, its connections open) is dropped, not when the call times out', async () => {
    await cluster.addWorker('host-d');
    const pending = cluster.call('POST', '/v1/functions/sleeper/invoke?', { ms: 1500, tag: 'hung' });
    const victim = await hostRunningIt();
    const child = cluster.workers.get(victim)!;
    // Stopped, the host's kernel still holds its connections: nothing is refused or reset, so only
    // the missed heartbeats (3 s) can tell; the call's own timeout is minutes away.
    child.kill('SIGSTOP');
    try {
      const res = await pending;
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { slept: 1500, tag: 'hung' });
      assert.notEqual(res.headers.get('x-kindling-host'), victim);
      assert.ok(!(await cluster.hosts()).includes(victim));
      // The seconds on the hung host count as waiting, the hop to the other as placing: the phases
      // account for the whole (they used to leave both out).
      const timing: Record<string, number> = Object.fromEntries(
        res.headers
          .get('server-timing')!
          .split(', ')
          .map((entry) => [entry.split(';')[0], Number(/dur=([\d.]+)/.exec(entry)![1])]),
      );
      const { total, ...phases } = timing;
      const accounted = Object.values(phases).reduce((a, b) => a + b, 0);
      assert.ok(accounted >= 0.9 * total!, `phases ${JSON.stringify(timing)}`);
      assert.ok(timing.queue! > timing.exec!, `phases ${JSON.stringify(timing)}`);
    } finally {
      child.kill('SIGCONT');
    }
  });
});
