/** Every sandbox tier through the platform: deploy with `tier`, invoke, see the tier in the record. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, startTestPlatform, tempDir } from '../helpers/platform.js';

type P = Awaited<ReturnType<typeof startTestPlatform>>;

describe('sandbox tiers through the platform', () => {
  let p: P;
  before(async () => {
    p = await startTestPlatform([fixture('portable'), fixture('uses-fs'), fixture('slow-init')]);
  });
  after(async () => p.close());

  for (const tier of ['process', 'isolate', 'container'] as const) {
    it(`runs a function in the ${tier} tier, cold then warm`, async () => {
      const base = p.functions.resolve('default', 'portable');
      await p.deployer.deployImage('default', 'portable', base.imageDigest, { tier });
      const cold = await p.call('POST', '/v1/functions/portable/invoke', { tier });
      assert.equal(cold.status, 200, cold.text);
      assert.equal(cold.headers.get('x-kindling-tier'), tier);
      assert.equal(cold.headers.get('x-kindling-cold'), '1');
      assert.deepEqual(cold.body.event, { tier });
      assert.equal(cold.body.requestId, cold.headers.get('x-kindling-invocation-id'));
      const warm = await p.call('POST', '/v1/functions/portable/invoke', {});
      assert.equal(warm.headers.get('x-kindling-cold'), '0');
      const record = await p.call('GET', `/v1/invocations/${cold.headers.get('x-kindling-invocation-id')}`);
      assert.equal(record.body.tier, tier);
      assert.ok(
        record.body.logs.some((l: { msg: string }) => l.msg.includes('portable')),
        'console captured',
      );
      const metrics = await (await fetch(`${p.url}/metrics`)).text();
      const path = tier === 'container' ? 'prepared' : 'plain';
      assert.equal(
        cold.headers.get('x-kindling-start-path'),
        path,
        'a container bundle is prepared at deploy',
      );
      assert.match(
        metrics,
        new RegExp(
          `kindling_cold_starts_total\\{function="default/portable",tier="${tier}",start_path="${path}"\\} 1`,
        ),
      );
      assert.match(metrics, new RegExp(`kindling_instances\\{tier="${tier}",state="idle"\\} [1-9]`));
    });
  }

  it('snapshots a function with a slow init after its first cold start, and restores it after', async () => {
    const first = await p.call('POST', '/v1/functions/slow-init/invoke', {});
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-kindling-cold'), '1');
    // Plain or from the runtime-only snapshot other tests left built: either way, not a function snapshot yet.
    assert.notEqual(first.headers.get('x-kindling-start-path'), 'snapshot');
    assert.equal(first.body.initPid, first.body.pid, 'a plain start runs the init itself');
    // keepAliveMs is 0: every call after the instance is gone is cold. The snapshot is built in the
    // background; poll (bounded) until a cold start restores it.
    let restored;
    for (let i = 0; i < 200 && !restored; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const fn = await p.call('GET', '/v1/functions/slow-init');
      if (fn.body.instances.some((v: { instances: unknown[] }) => v.instances.length > 0)) continue;
      const res = await p.call('POST', '/v1/functions/slow-init/invoke', {});
      assert.equal(res.status, 200, res.text);
      if (res.headers.get('x-kindling-start-path') === 'snapshot') restored = res;
    }
    assert.ok(restored, 'a cold start was served from the snapshot');
    assert.equal(restored.body.initialised, true);
    assert.notEqual(
      restored.body.initPid,
      restored.body.pid,
      'the init ran when the snapshot was built, not now',
    );
  });

  it('refuses at deploy a function that needs Node built-ins in the isolate tier, naming them', async () => {
    const v = p.functions.resolve('default', 'uses-fs');
    const before = p.functions.versions('default', 'uses-fs').length;
    const res = await p.call('POST', '/v1/functions/uses-fs/versions', {
      digest: v.imageDigest,
      config: { tier: 'isolate' },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'KINDLING_INVALID_CONFIG');
    assert.match(res.body.error.message, /"fs"/);
    assert.match(res.body.error.message, /tier "process"/);
    assert.equal(p.functions.versions('default', 'uses-fs').length, before, 'no version was created');
  });

  it('says why code with top-level await cannot run in the isolate tier, not that it imported "module"', async () => {
    const dir = tempDir('kindling-tla-');
    writeFileSync(
      join(dir, 'index.mjs'),
      'const answer = await Promise.resolve(42);\nexport default () => answer;\n',
    );
    writeFileSync(join(dir, 'kindling.json'), JSON.stringify({ name: 'tla-isolate', tier: 'isolate' }));
    await assert.rejects(p.deployer.deployDirectory('default', dir), (err: Error) => {
      assert.match(err.message, /top-level await made this one an ES module/);
      assert.match(err.message, /tier "process"/);
      return true;
    });
  });

  it('rejects an unknown tier with the valid choices', async () => {
    const v = p.functions.resolve('default', 'portable');
    const res = await p.call('POST', '/v1/functions/portable/versions', {
      digest: v.imageDigest,
      config: { tier: 'vm' },
    });
    assert.equal(res.status, 400);
    assert.match(res.body.error.message, /tier must be "process", "isolate" or "container"/);
  });
});
