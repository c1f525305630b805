/**
 * The container tier: the shared compliance suite, plus what only this tier has (prepared bundles,
 * timings, clean teardown, a clear error when crun is missing). Needs root and crun (`apt-get install
 * -y crun`), as CI provides.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { createContainerTier } from '../../src/sandbox/container/index.js';
import type { ContainerInstance, ContainerTier } from '../../src/sandbox/container/index.js';
import { assertRejects, assertResult, sandboxTierCompliance } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

sandboxTierCompliance('container', () => createContainerTier());

/** Ids of the containers crun knows (its default state dir, as an operator would look). */
function crunList(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('crun', ['list', '-q'], { timeout: 10_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.split('\n').filter(Boolean)),
    );
  });
}

describe('container tier specifics', () => {
  const dirs = new FixtureDirs();
  let dir: string;

  before(async () => {
    dir = await dirs.make({ 'fn.mjs': `export const handler = async (event) => ({ echo: event });` });
  });
  after(() => dirs.cleanup());

  test('the first start of a version is plain, later ones use the prepared bundle', async () => {
    const tier = createContainerTier();
    try {
      const first = await tier.start(specFor(dir, 'fn.mjs'));
      assert.equal(first.tier, 'container');
      assert.equal(first.timings.startPath, 'plain');
      const second = await tier.start(specFor(dir, 'fn.mjs'));
      assert.equal(second.timings.startPath, 'prepared');
      for (const t of [first.timings, second.timings]) {
        assert.ok(t.sandboxMs > 0 && t.runtimeMs > 0 && t.initMs >= 0, JSON.stringify(t));
      }
      assert.deepEqual(
        assertResult(await second.invoke({ requestId: 'r1', event: { a: 1 }, timeoutMs: 10_000 })),
        { echo: { a: 1 } },
      );
      const other = await tier.start(specFor(dir, 'fn.mjs', { functionVersion: 8 }));
      assert.equal(other.timings.startPath, 'plain');
    } finally {
      await tier.close();
    }
  });

  test('prepare() ahead of the request makes the first start prepared', async () => {
    const tier = createContainerTier();
    try {
      const spec = specFor(dir, 'fn.mjs', { functionVersion: 9 });
      await tier.prepare(spec);
      const instance = await tier.start(spec);
      assert.equal(instance.timings.startPath, 'prepared');
      assert.ok((instance.memoryBytes() ?? 0) > 0, 'memory is read from the cgroup');
    } finally {
      await tier.close();
    }
  });

  test('forgetCode() removes the bundles of collected or vanished code directories, and only those', async () => {
    const stateDir = `${await dirs.make({})}/state`;
    const tier = createContainerTier({ stateDir });
    try {
      const other = await dirs.make({ 'fn.mjs': `export const handler = async () => 1;` });
      const gone = await dirs.make({ 'fn.mjs': `export const handler = async () => 2;` });
      await tier.prepare(specFor(dir, 'fn.mjs', { functionVersion: 21 }));
      await tier.prepare(specFor(other, 'fn.mjs', { functionVersion: 22 }));
      await tier.prepare(specFor(gone, 'fn.mjs', { functionVersion: 23 }));
      await rm(gone, { recursive: true });
      const bundlesNow = async () => (await readdir(stateDir)).filter((n) => /-v2\d-/.test(n)).sort();
      assert.equal((await bundlesNow()).length, 3);

      const dry = await tier.forgetCode!(new Set([other]), true);
      assert.equal(dry.removed, 2, 'the collected directory and the vanished one');
      assert.ok(dry.bytes > 0);
      assert.equal((await bundlesNow()).length, 3, 'a dry run deletes nothing');

      assert.deepEqual(await tier.forgetCode!(new Set([other]), false), dry);
      assert.deepEqual(await bundlesNow(), [(await bundlesNow()).find((n) => n.includes('-v21-'))!]);
      // The bundle kept still starts prepared; a forgotten version prepares again.
      assert.equal(
        (await tier.start(specFor(dir, 'fn.mjs', { functionVersion: 21 }))).timings.startPath,
        'prepared',
      );
      assert.equal(
        (await tier.start(specFor(other, 'fn.mjs', { functionVersion: 22 }))).timings.startPath,
        'plain',
      );
    } finally {
      await tier.close();
    }
  });

  test('close() leaves no container, cgroup or bundle behind', async () => {
    const stateDir = `${await dirs.make({})}/state`;
    const tier: ContainerTier = createContainerTier({ stateDir });
    const a = (await tier.start(specFor(dir, 'fn.mjs'))) as ContainerInstance;
    const b = (await tier.start(specFor(dir, 'fn.mjs'))) as ContainerInstance;
    const ids = [a.containerId, b.containerId];
    const listed = await crunList();
    for (const id of ids) assert.ok(listed.includes(id), `${id} is listed while running`);
    await tier.close();
    const left = await crunList();
    for (const id of ids) {
      assert.ok(!left.includes(id), `${id} is gone from crun list`);
      for (const ctl of ['memory', 'pids', 'cpu']) {
        assert.equal(existsSync(`/sys/fs/cgroup/${ctl}/kindling/${id}`), false, `${ctl} cgroup of ${id}`);
      }
    }
    assert.equal(a.leftovers, undefined);
    assert.deepEqual((await import('node:fs')).readdirSync(stateDir), [], 'the prepared bundles are removed');
  });

  test('a host without crun gets KINDLING_UNAVAILABLE saying what to install', async () => {
    const tier = createContainerTier({ crunPath: '/nonexistent/crun' });
    try {
      const err = await assertRejects(tier.start(specFor(dir, 'fn.mjs')), 'KINDLING_UNAVAILABLE');
      assert.match(err.message, /apt-get install -y crun/);
    } finally {
      await tier.close();
    }
  });

  test('a closed tier refuses to start', async () => {
    const tier = createContainerTier();
    await tier.close();
    await assertRejects(tier.start(specFor(dir, 'fn.mjs')), 'KINDLING_UNAVAILABLE');
  });
});
