/** Greedy-Dual on the live embedded platform: a host memory budget, real process instances. */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startPlatform, type Platform } from '../../src/platform.js';
import { DEFAULT_TENANT } from '../../src/control/tenants.js';
import { call, fixture, runCli, tempDir } from '../helpers/platform.js';

describe('greedy-dual on the live platform', () => {
  let platform: Platform;
  const dataDir = tempDir();
  before(async () => {
    // Room for one 128 MiB instance, not two.
    platform = await startPlatform({
      dataDir,
      port: 0,
      stemCells: 0,
      keepAlivePolicy: 'greedy-dual',
      memoryMb: 200,
    });
    for (const name of ['gd-a', 'gd-b'])
      await platform.deployer.deployDirectory(DEFAULT_TENANT, fixture('echo'), name);
  });
  after(async () => {
    await platform.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const invoke = async (name: string) => {
    const r = await call(platform.url, platform.adminKey, 'POST', `/v1/functions/${name}/invoke`, {});
    assert.equal(r.status, 200, r.text);
    return r.headers.get('x-kindling-cold') === '1';
  };

  it('keeps an instance while memory allows and evicts it when another function needs the room', async () => {
    assert.equal(await invoke('gd-a'), true);
    assert.equal(await invoke('gd-a'), false, 'kept: nothing expires on a timer');
    assert.equal(await invoke('gd-b'), true);
    // gd-a's instance was evicted to make room for gd-b's.
    assert.equal(await invoke('gd-a'), true);
    // …and now gd-b's went to make room for gd-a's.
    assert.equal(await invoke('gd-b'), true);
  });

  it('kindling up rejects a bad --memory-mb or policy name with the accepted values', () => {
    const mem = runCli(['up', '--memory-mb', '12', '--port', '0', '--data', tempDir()]);
    assert.equal(mem.status, 1);
    assert.match(mem.stderr, /invalid --memory-mb "12": use a whole number of MiB, at least 64/);
    const pol = runCli(['up', '--keep-alive-policy', 'lru', '--port', '0', '--data', tempDir()]);
    assert.equal(pol.status, 1);
    assert.match(pol.stderr, /use one of fixed, hybrid-histogram, greedy-dual, cost-window/);
  });
});
