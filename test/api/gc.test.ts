/** `POST /v1/admin/gc` on a real platform: a deleted function's image goes, the others stay. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, startTestPlatform } from '../helpers/platform.js';

describe('registry garbage collection through the API', () => {
  let p: Awaited<ReturnType<typeof startTestPlatform>>;
  before(async () => {
    p = await startTestPlatform([fixture('echo'), fixture('sleeper')]);
  });
  after(async () => p.close());

  it("removes a deleted function's image and keeps every image a version uses", async () => {
    const echo = p.functions.resolve('default', 'echo');
    const sleeper = p.functions.resolve('default', 'sleeper');
    const imageDir = (digest: string) => join(p.dataDir, 'worker', 'images', digest.slice('sha256:'.length));
    // Both images on the embedded worker: each has run once.
    for (const fn of ['echo', 'sleeper'])
      assert.equal((await p.call('POST', `/v1/functions/${fn}/invoke`, { ms: 1 })).status, 200);
    assert.ok(existsSync(imageDir(sleeper.imageDigest)));
    assert.equal((await p.call('DELETE', '/v1/functions/sleeper')).status, 204);
    const dry = await p.call('POST', '/v1/admin/gc', { dryRun: true, graceMs: 0 });
    assert.equal(dry.status, 200, dry.text);
    assert.deepEqual(dry.body.repositoriesRemoved, ['default/sleeper']);
    const done = await p.call('POST', '/v1/admin/gc', { graceMs: 0 });
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.dryRun, false);
    assert.ok(done.body.bytesFreed > 0 && done.body.blobsDeleted > 0, done.text);
    assert.equal(done.body.bytesFreed, dry.body.bytesFreed);
    // The embedded worker's copies went too: the deleted function's image directory and blocks.
    assert.deepEqual(done.body.hostsNotCollected, []);
    const [local] = done.body.hosts as { host: string; imagesRemoved: number; blobsDeleted: number }[];
    assert.equal(local?.host, 'local');
    assert.equal(local.imagesRemoved, 1);
    assert.ok(local.blobsDeleted > 0, done.text);
    assert.equal(existsSync(imageDir(sleeper.imageDigest)), false);
    assert.equal(existsSync(imageDir(echo.imageDigest)), true);
    assert.equal((await p.call('GET', `/v2/default/echo/manifests/${echo.imageDigest}`)).status, 200);
    const tags = await p.call('GET', '/v2/default/sleeper/tags/list');
    assert.equal(tags.status, 404, 'its repository went with it');
    assert.equal(tags.body.errors[0].code, 'NAME_UNKNOWN');
    // The function in use still runs, and a redeploy of the deleted one pushes its blocks again.
    assert.equal((await p.call('POST', '/v1/functions/echo/invoke', {})).status, 200);
    await p.deployer.deployDirectory('default', fixture('sleeper'));
    assert.equal((await p.call('POST', '/v1/functions/sleeper/invoke', { ms: 1 })).status, 200);
  });

  it('a deploy that succeeds while collections run without a grace period keeps its image', async () => {
    // Collections back to back, with no grace period, race the deploys below.
    let racing = true;
    const collections = (async () => {
      let n = 0;
      while (racing) {
        const res = await p.call('POST', '/v1/admin/gc', { graceMs: 0 });
        assert.equal(res.status, 200, res.text);
        n++;
      }
      return n;
    })();
    const outcomes = [];
    for (let i = 0; i < 6; i++) {
      outcomes.push(
        await p.deployer.deployDirectory('default', fixture('echo'), `race-${i}`).then(
          (d) => d.version,
          (err: unknown) => err as Error,
        ),
      );
    }
    racing = false;
    assert.ok((await collections) > 0);
    // A deploy may fail (its blocks collected before its manifest arrived), but one that succeeded
    // must find its whole image in the registry.
    for (const o of outcomes) {
      if (o instanceof Error) {
        assert.match(o.message, /push|not in repository|does not have/, o.message);
        continue;
      }
      const manifest = await p.call('GET', `/v2/${o.imageRepo}/manifests/${o.imageDigest}`);
      assert.equal(manifest.status, 200, `${o.name}: ${manifest.text}`);
      const blocks = (manifest.body as { layers: { blocks: { digest: string }[] }[] }).layers.flatMap(
        (l) => l.blocks,
      );
      for (const block of blocks) {
        const res = await fetch(`${p.url}/v2/${o.imageRepo}/blobs/${block.digest}`, {
          method: 'HEAD',
          headers: { authorization: `Bearer ${p.adminKey}` },
        });
        assert.equal(res.status, 200, `${o.name}: block ${block.digest}`);
      }
    }
  });

  it('is for admins, and says what is wrong with a request', async () => {
    const tenant = await p.call('POST', '/v1/tenants', { name: 'initech' });
    const denied = await p.call('POST', '/v1/admin/gc', {}, tenant.body.apiKey as string);
    assert.equal(denied.status, 403);
    const negative = await p.call('POST', '/v1/admin/gc', { graceMs: -5 });
    assert.equal(negative.status, 400);
    assert.match(negative.body.error.message, /graceMs.*must be 0 or more/);
    const unknown = await p.call('POST', '/v1/admin/gc', { dryrun: true });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /dryrun/);
  });
});
