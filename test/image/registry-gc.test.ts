/**
 * Registry garbage collection on a real registry directory with images built by the real builder:
 * what a version uses stays readable, what nothing uses goes (shared blocks stay), the grace period
 * keeps recent pushes, and a collection waits for a push in progress.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SharedExclusiveLock } from '../../src/core/shared-exclusive.js';
import { buildImage } from '../../src/image/builder.js';
import { collectRegistryGarbage } from '../../src/image/registry-gc.js';
import { LocalRegistry, pushImage } from '../../src/image/registry.js';
import { seededBytes, tempDir, writeTree } from './helpers.js';

const HOUR = 3_600_000;
const tmp = tempDir('kindling-gc-');
after(tmp.cleanup);
let seq = 0;

/** Builds a function holding a shared asset and one of its own, and pushes it to `repository`. */
async function pushFunction(registry: LocalRegistry, repository: string, own: string) {
  const dir = join(tmp.dir, `fn${++seq}`);
  mkdirSync(dir);
  writeTree(dir, {
    'index.js': `exports.handler = async () => ${JSON.stringify(own)};\n`,
    'shared.bin': seededBytes('shared', 700_000),
    [`${own}.bin`]: seededBytes(own, 700_000),
    'kindling.json': JSON.stringify({ bundle: false, entry: 'index.js' }),
  });
  const built = await buildImage(dir);
  const pushed = await pushImage(built, registry, repository, 'latest');
  return {
    digest: pushed.digest,
    blocks: built.manifest.layers.flatMap((l) => l.blocks.map((b) => b.digest)),
  };
}

/** Moves every file of the registry `hours` into the past, as if pushed that long ago. */
function age(root: string, hours: number): void {
  const then = new Date(Date.now() - hours * HOUR);
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else utimesSync(p, then, then);
    }
  };
  walk(root);
}

describe('registry garbage collection', () => {
  it('keeps what versions use, removes what nothing uses, and keeps shared blocks', async () => {
    const root = join(tmp.dir, 'reg1');
    const registry = new LocalRegistry(root);
    const kept = await pushFunction(registry, 'acme/kept', 'kept');
    const gone = await pushFunction(registry, 'acme/gone', 'gone');
    age(root, 2);
    const roots = () => [{ repository: 'acme/kept', digest: kept.digest }];

    const dry = await collectRegistryGarbage(registry, {
      roots,
      graceMs: HOUR,
      now: Date.now(),
      dryRun: true,
    });
    assert.equal(dry.dryRun, true);
    assert.ok(dry.blobsDeleted > 0 && dry.bytesFreed > 0, JSON.stringify(dry));
    assert.deepEqual(dry.repositoriesRemoved, ['acme/gone']);
    assert.deepEqual(await registry.repositories(), ['acme/gone', 'acme/kept'], 'a dry run deletes nothing');

    const done = await collectRegistryGarbage(registry, { roots, graceMs: HOUR, now: Date.now() });
    assert.deepEqual({ ...done, dryRun: true }, dry, 'the collection does what the dry run said');
    assert.deepEqual(await registry.repositories(), ['acme/kept']);
    // Everything of the kept image is still there and verifies, the shared block included.
    await registry.getManifest('acme/kept', kept.digest);
    for (const b of kept.blocks) await registry.getBlob('acme/kept', b);
    const onlyGone = gone.blocks.filter((b) => !kept.blocks.includes(b));
    assert.ok(onlyGone.length > 0 && onlyGone.length < gone.blocks.length, 'the images share a block');
    for (const b of [gone.digest, ...onlyGone]) assert.equal(await registry.blobs.has(b), false, b);

    const again = await collectRegistryGarbage(registry, { roots, graceMs: HOUR, now: Date.now() });
    assert.equal(again.blobsDeleted, 0, 'a second collection finds nothing more');
  });

  it('keeps a push younger than the grace period, and the newest push of a function in use', async () => {
    const root = join(tmp.dir, 'reg2');
    const registry = new LocalRegistry(root);
    const deployed = await pushFunction(registry, 'acme/app', 'v1');
    const pushedNotDeployed = await pushFunction(registry, 'acme/app', 'v2'); // `latest` now points here
    const orphan = await pushFunction(registry, 'acme/orphan', 'orphan');
    age(root, 2);
    const fresh = await pushFunction(registry, 'acme/fresh', 'fresh'); // a deploy in progress
    const roots = () => [{ repository: 'acme/app', digest: deployed.digest }];
    const report = await collectRegistryGarbage(registry, { roots, graceMs: HOUR, now: Date.now() });
    assert.deepEqual(report.repositoriesRemoved, ['acme/orphan']);
    await registry.getManifest('acme/app', 'latest');
    assert.equal(await registry.resolve('acme/app', 'latest'), pushedNotDeployed.digest);
    await registry.getManifest('acme/fresh', fresh.digest);
    assert.equal(await registry.blobs.has(orphan.digest), false);
    // With no grace, the fresh push goes too.
    await collectRegistryGarbage(registry, { roots, graceMs: 0, now: Date.now() + 1000 });
    assert.deepEqual(await registry.repositories(), ['acme/app']);
  });

  it('refuses a negative grace period', async () => {
    const registry = new LocalRegistry(join(tmp.dir, 'reg3'));
    await assert.rejects(
      collectRegistryGarbage(registry, { roots: () => [], graceMs: -1, now: Date.now() }),
      /grace period -1 ms: use 0 or more/,
    );
  });

  it('link times say when a blob was last pushed, even when the store already had it', async () => {
    const root = join(tmp.dir, 'reg4');
    const registry = new LocalRegistry(root);
    const first = await pushFunction(registry, 'acme/one', 'same');
    age(root, 2);
    await pushFunction(registry, 'acme/two', 'same'); // the same blocks, already stored
    const link = join(root, 'repositories', 'acme', 'two', '_blobs');
    for (const name of readdirSync(link)) assert.ok(Date.now() - statSync(join(link, name)).mtimeMs < HOUR);
    // acme/one is not in use but acme/two's recent push keeps the blocks both name.
    const report = await collectRegistryGarbage(registry, {
      roots: () => [],
      graceMs: HOUR,
      now: Date.now(),
    });
    assert.deepEqual(report.repositoriesRemoved, ['acme/one']);
    for (const b of first.blocks) await registry.getBlob('acme/two', b);
  });
});

describe('SharedExclusiveLock', () => {
  it('an exclusive holder waits for the shared ones inside and keeps new ones out until done', async () => {
    const lock = new SharedExclusiveLock();
    const order: string[] = [];
    let releaseShared!: () => void;
    const sharedInside = lock.shared(async () => {
      order.push('shared 1 in');
      await new Promise<void>((r) => (releaseShared = r));
      order.push('shared 1 out');
    });
    await Promise.resolve();
    const exclusive = lock.exclusively(async () => {
      order.push('exclusive');
    });
    const sharedAfter = lock.shared(async () => {
      order.push('shared 2');
    });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['shared 1 in'], 'the exclusive request and the later shared one wait');
    releaseShared();
    await Promise.all([sharedInside, exclusive, sharedAfter]);
    assert.deepEqual(order, ['shared 1 in', 'shared 1 out', 'exclusive', 'shared 2']);
  });
});
