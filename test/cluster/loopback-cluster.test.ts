/** `kindling cluster up --loopback`'s engine: a control plane and workers as processes on 127.0.0.1. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startLocalCluster, type LocalCluster } from '../../src/cluster/local-cluster.js';
import { call, cliPath, fixture, runCli, tempDir } from '../helpers/platform.js';

/** Runs `body` against a fresh two-host loopback cluster with the echo fixture deployed, then stops it. */
async function withCluster(
  extra: { nicBitsPerSec: number; controlArgs?: string[] },
  body: (cluster: LocalCluster, dataDir: string) => Promise<void>,
): Promise<LocalCluster> {
  const dataDir = tempDir('kindling-loopback-');
  const cluster = await startLocalCluster({
    network: 'loopback',
    hosts: 2,
    registryNicBitsPerSec: 200e6,
    dataDir,
    cliPath,
    ...extra,
  });
  try {
    const deployed = runCli([
      '--url',
      cluster.controlUrl,
      '--data-dir',
      join(dataDir, 'control'),
      'deploy',
      fixture('echo'),
    ]);
    assert.equal(deployed.status, 0, deployed.stderr);
    await body(cluster, dataDir);
  } finally {
    await cluster.close();
  }
  return cluster;
}

const invokeOn = (cluster: LocalCluster, host: string, event: unknown) =>
  call(cluster.controlUrl, cluster.adminKey, 'POST', `/v1/functions/echo/invoke?host=${host}`, event);

describe('local cluster on loopback', () => {
  it('starts, runs invocations on every host with bandwidth limited in the transport, and stops everything', async () => {
    const cluster = await withCluster({ nicBitsPerSec: 50e6 }, async (c) => {
      assert.equal(c.network, 'loopback');
      for (const h of c.hosts) {
        const res = await invokeOn(c, h.id, { h: h.id });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers.get('x-kindling-host'), h.id);
      }
    });
    for (const h of cluster.hosts) assert.ok(h.process.exitCode !== null || h.process.signalCode !== null);
  });

  it("gc sweeps each worker's copies of a deleted function's image", async () => {
    await withCluster({ nicBitsPerSec: 200e6 }, async (c, dataDir) => {
      assert.equal((await invokeOn(c, 'h1', {})).status, 200);
      const images = join(dataDir, 'h1', 'images');
      assert.equal(readdirSync(images).filter((n) => /^[0-9a-f]{64}$/.test(n)).length, 1);
      const del = await call(c.controlUrl, c.adminKey, 'DELETE', '/v1/functions/echo');
      assert.equal(del.status, 204);
      const gc = await call(c.controlUrl, c.adminKey, 'POST', '/v1/admin/gc', { graceMs: 0 });
      assert.equal(gc.status, 200, gc.text);
      assert.deepEqual(gc.body.hostsNotCollected, []);
      const byHost = new Map(
        (gc.body.hosts as { host: string; imagesRemoved: number; blobsDeleted: number }[]).map((h) => [
          h.host,
          h,
        ]),
      );
      assert.deepEqual([...byHost.keys()].sort(), ['h1', 'h2']);
      assert.equal(byHost.get('h1')!.imagesRemoved, 1);
      assert.ok(byHost.get('h1')!.blobsDeleted > 0);
      assert.equal(readdirSync(images).filter((n) => /^[0-9a-f]{64}$/.test(n)).length, 0);
    });
  });

  it("detects a host's corrupted cached block when a peer asks for it, and the peer refetches it elsewhere", async () => {
    await withCluster(
      { nicBitsPerSec: 200e6, controlArgs: ['--distribution', 'tree'] },
      async (c, dataDir) => {
        const first = await invokeOn(c, 'h1', {});
        assert.equal(first.status, 200, first.text);
        // Flip a byte in every block h1 holds: h1 is h2's parent in the function tree.
        const blocks = join(dataDir, 'h1', 'blocks', 'sha256');
        let corrupted = 0;
        for (const prefix of readdirSync(blocks)) {
          for (const name of readdirSync(join(blocks, prefix))) {
            const path = join(blocks, prefix, name);
            const bytes = readFileSync(path);
            const mid = bytes.length >> 1;
            bytes[mid] = bytes[mid]! ^ 0xff;
            writeFileSync(path, bytes);
            corrupted++;
          }
        }
        assert.ok(corrupted > 0);
        const second = await invokeOn(c, 'h2', { n: 2 });
        assert.equal(second.status, 200, second.text);
        assert.deepEqual(second.body.event, { n: 2 });
        const dist = await call(c.hosts[1]!.url, c.adminKey, 'GET', '/v1/worker/distribution');
        const f = (
          dist.body.fetches as { fn: string; bytesFromRegistry: number; bytesFromPeers: number }[]
        ).find((x) => x.fn.includes('echo'))!;
        assert.equal(f.bytesFromPeers, 0, 'no corrupt byte was taken from the parent');
        assert.ok(f.bytesFromRegistry > 0, 'the blocks came from the registry instead');
      },
    );
  });
});
