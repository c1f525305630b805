/** `kindling cluster up --loopback`'s engine: a control plane and workers as processes on 127.0.0.1. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startLocalCluster } from '../../src/cluster/local-cluster.js';
import { call, cliPath, fixture, runCli, tempDir } from '../helpers/platform.js';

describe('local cluster on loopback', () => {
  it('starts, runs invocations on every host with bandwidth limited in the transport, and stops everything', async () => {
    const dataDir = tempDir('kindling-loopback-');
    const cluster = await startLocalCluster({
      network: 'loopback',
      hosts: 2,
      nicBitsPerSec: 50e6,
      registryNicBitsPerSec: 100e6,
      dataDir,
      cliPath,
    });
    try {
      assert.equal(cluster.network, 'loopback');
      const deployed = runCli([
        '--url',
        cluster.controlUrl,
        '--data-dir',
        join(dataDir, 'control'),
        'deploy',
        fixture('echo'),
      ]);
      assert.equal(deployed.status, 0, deployed.stderr);
      for (const h of cluster.hosts) {
        const res = await call(
          cluster.controlUrl,
          cluster.adminKey,
          'POST',
          `/v1/functions/echo/invoke?host=${h.id}`,
          { h: h.id },
        );
        assert.equal(res.status, 200, res.text);
        assert.equal(res.headers.get('x-kindling-host'), h.id);
      }
    } finally {
      await cluster.close();
    }
    for (const h of cluster.hosts) assert.ok(h.process.exitCode !== null || h.process.signalCode !== null);
  });
});
