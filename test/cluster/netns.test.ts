/**
 * Cluster mode on the network-namespace test cluster: real hosts, real shaped links. A function
 * tree delivers an image to every host with the registry serving about one copy, and a tree node
 * killed mid-transfer leaves its children to be re-parented and finish.
 *
 * Needs root and iproute2 (CI runs as root and installs iproute2); elsewhere it is skipped, saying why.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startLocalCluster, type LocalCluster } from '../../src/cluster/local-cluster.js';
import { netnsUnavailable } from '../../src/cluster/netns.js';
import type { ImageFetchSummary } from '../../src/cluster/image-fetch.js';
import { call, cliPath, eventually, runCli, tempDir } from '../helpers/platform.js';

const MiB = 1024 * 1024;
const why = netnsUnavailable();

/** A function with `mib` MiB of incompressible data beside its code. */
function bigFunction(name: string, mib: number): string {
  const dir = tempDir(`kindling-${name}-`);
  mkdirSync(join(dir, 'assets'));
  writeFileSync(
    join(dir, 'index.js'),
    `exports.handler = async () => ({ ok: true, fn: ${JSON.stringify(name)} });\n`,
  );
  writeFileSync(join(dir, 'assets', 'data.bin'), randomBytes(mib * MiB));
  writeFileSync(join(dir, 'kindling.json'), JSON.stringify({ name, bundle: false, entry: 'index.js' }));
  return dir;
}

describe('cluster mode on network namespaces', { skip: why ? `netns unavailable: ${why}` : false }, () => {
  let cluster: LocalCluster;
  let dataDir: string;
  before(async () => {
    dataDir = tempDir('kindling-netns-');
    // Slow links (8 Mbit/s hosts, 16 Mbit/s registry), so a 4 MiB image takes seconds per hop.
    cluster = await startLocalCluster({
      network: 'netns',
      hosts: 3,
      nicBitsPerSec: 8e6,
      registryNicBitsPerSec: 16e6,
      dataDir,
      cliPath,
      controlArgs: ['--distribution', 'tree'],
    });
  });
  after(async () => cluster?.close());

  const deploy = (dir: string) => {
    const res = runCli(['--url', cluster.controlUrl, '--data-dir', join(dataDir, 'control'), 'deploy', dir]);
    assert.equal(res.status, 0, res.stderr);
  };
  const invokeOn = (host: string, fn: string) =>
    call(cluster.controlUrl, cluster.adminKey, 'POST', `/v1/functions/${fn}/invoke?host=${host}`, {});
  const fetchesOf = async (host: string) => {
    const url = cluster.hosts.find((h) => h.id === host)!.url;
    const res = await call(url, cluster.adminKey, 'GET', '/v1/worker/distribution');
    return res.body as {
      fetches: ImageFetchSummary[];
      served?: { bytesServed: number };
      manifestsFromPeers: number;
    };
  };

  it('delivers an image to every host through the tree, the registry serving one copy', async () => {
    deploy(bigFunction('tree-a', 4));
    const results = await Promise.all(cluster.hosts.map((h) => invokeOn(h.id, 'tree-a')));
    for (const r of results) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-kindling-cold'), '1');
    }
    let registry = 0;
    let peers = 0;
    for (const h of cluster.hosts) {
      for (const f of (await fetchesOf(h.id)).fetches.filter((f) => f.fn.includes('tree-a'))) {
        registry += f.bytesFromRegistry;
        peers += f.bytesFromPeers;
      }
    }
    assert.ok(registry >= 4 * MiB && registry < 1.5 * 4 * MiB, `registry served ${registry} bytes`);
    assert.ok(peers >= 2 * 4 * MiB, `peers served ${peers} bytes`);
  });

  it('queues each peer on its own class of a shaped link (the tree above: the registry fed one root)', () => {
    const fromControl = cluster.uploadByPeer('control');
    const workers = cluster.hosts.map((h) => h.id);
    for (const w of workers) assert.ok(fromControl.has(w), `the control plane's link has a class for ${w}`);
    // Every worker talked to the control plane, so every worker's class carried bytes; the tree's
    // root got the 4 MiB image through its own.
    const toWorkers = workers.map((w) => fromControl.get(w) ?? 0);
    for (const [i, bytes] of toWorkers.entries()) assert.ok(bytes > 0, `nothing sent to ${workers[i]}`);
    assert.ok(Math.max(...toWorkers) >= 4 * MiB, `control plane's upload by peer: ${[...fromControl]}`);
    // Workers forward down the tree over their own links: some worker sent another a whole image.
    const forwarded = workers.flatMap((w) =>
      workers.filter((p) => p !== w).map((p) => cluster.uploadByPeer(w).get(p) ?? 0),
    );
    assert.ok(
      Math.max(...forwarded) >= 4 * MiB,
      `largest worker-to-worker upload ${Math.max(...forwarded)} bytes`,
    );
  });

  it('keeps starting an image from the hosts that hold it while the registry is unreachable', async () => {
    deploy(bigFunction('tree-r', 2));
    for (const h of ['h1', 'h2']) {
      const r = await invokeOn(h, 'tree-r');
      assert.equal(r.status, 200, r.text);
    }
    // The control plane hears from heartbeats that h1 and h2 hold the image.
    const versions = await call(cluster.controlUrl, cluster.adminKey, 'GET', '/v1/functions/tree-r/versions');
    const digest = (versions.body as { versions: { imageDigest: string }[] }).versions[0]!.imageDigest;
    await eventually(async () => {
      const res = await call(cluster.controlUrl, cluster.adminKey, 'GET', '/v1/cluster/hosts');
      const hosts = (res.body as { hosts: { hostId: string; images: string[] }[] }).hosts;
      return hosts.filter((h) => h.images.includes(digest)).length >= 2 || undefined;
    });
    cluster.setRegistryReachable(false);
    try {
      // Really cut off: nothing answers at the registry's address.
      await assert.rejects(fetch(`${cluster.registryUrl}/healthz`, { signal: AbortSignal.timeout(3_000) }));
      const r = await invokeOn('h3', 'tree-r');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-kindling-cold'), '1');
      assert.deepEqual(r.body, { ok: true, fn: 'tree-r' });
      const h3 = await fetchesOf('h3');
      // The manifest came from a peer too: the registry could not be asked.
      assert.ok(h3.manifestsFromPeers >= 1);
      const summary = h3.fetches.find((f) => f.fn.includes('tree-r'))!;
      assert.equal(summary.bytesFromRegistry, 0);
      assert.ok(summary.bytesFromPeers >= 2 * MiB, `peers sent ${summary.bytesFromPeers} bytes`);
    } finally {
      cluster.setRegistryReachable(true);
    }
  });

  it('re-parents the children of a tree node killed mid-transfer, and they finish', async () => {
    deploy(bigFunction('tree-b', 4));
    const servedBefore = (await fetchesOf('h1')).served?.bytesServed ?? 0;
    // h1 joins first and becomes the root; h2 and h3 become its children.
    const root = invokeOn('h1', 'tree-b');
    // Let h1 join first (its first source request makes it the root), then start the others.
    await new Promise((r) => setTimeout(r, 500));
    const children = [invokeOn('h2', 'tree-b'), invokeOn('h3', 'tree-b')];
    // Kill the root once it has started streaming to a child, and before it is done.
    await eventually(
      async () => ((await fetchesOf('h1')).served?.bytesServed ?? 0) > servedBefore || undefined,
    );
    cluster.kill('h1');
    await root.catch(() => undefined);
    for (const r of await Promise.all(children)) {
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body, { ok: true, fn: 'tree-b' });
    }
    const summaries = [...(await fetchesOf('h2')).fetches, ...(await fetchesOf('h3')).fetches].filter((f) =>
      f.fn.includes('tree-b'),
    );
    assert.equal(summaries.length, 2);
    // Someone took over as root and fetched what the dead root had not passed on from the registry.
    assert.ok(summaries.some((f) => f.bytesFromRegistry > 0));
  });

  it('replaces a swarm peer that disappears mid-transfer', async () => {
    const dir = bigFunction('swarm-c', 4);
    // This function overrides the cluster's tree with the swarm strategy.
    writeFileSync(
      join(dir, 'kindling.json'),
      JSON.stringify({ name: 'swarm-c', bundle: false, entry: 'index.js', distribution: 'swarm' }),
    );
    deploy(dir);
    const servedBefore = (await fetchesOf('h2')).served?.bytesServed ?? 0;
    const first = invokeOn('h2', 'swarm-c');
    await new Promise((r) => setTimeout(r, 500));
    const second = invokeOn('h3', 'swarm-c');
    // Kill h2 once it has served h3 some blocks.
    await eventually(
      async () => ((await fetchesOf('h2')).served?.bytesServed ?? 0) > servedBefore || undefined,
    );
    cluster.kill('h2');
    await first.catch(() => undefined);
    const res = await second;
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { ok: true, fn: 'swarm-c' });
    const summary = (await fetchesOf('h3')).fetches.find((f) => f.fn.includes('swarm-c'))!;
    assert.ok(summary.bytesFromPeers > 0, 'h3 got blocks from h2 while it lived');
    assert.ok(summary.bytesFromRegistry > 0, 'and the rest elsewhere once h2 was gone');
  });

  // Last: it closes the cluster.
  it('a close racing another (a signal while the owner closes) returns only once every namespace is gone', async () => {
    const state = JSON.parse(readFileSync(join(dataDir, 'netns-cluster.json'), 'utf8')) as {
      namespaces: string[];
    };
    assert.ok(state.namespaces.length >= 5, 'the switch, the control plane and three hosts');
    const first = cluster.close();
    await cluster.close();
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const ns of state.namespaces) assert.ok(!left.includes(ns), `namespace ${ns} is still there`);
    await first;
  });
});
