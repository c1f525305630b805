import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { BlobStore } from '../../src/image/blob-store.js';
import { compressBlock, compressBlockSync, decompressBlock } from '../../src/image/block-codec.js';
import { parseByteRange } from '../../src/image/byte-range.js';
import { parseDigest, sha256Digest } from '../../src/image/digest.js';
import { BLOCK_SIZE } from '../../src/image/manifest.js';
import { seededBytes, tempDir } from './helpers.js';

const isCode = (code: string) => (err: unknown) => KindlingError.is(err) && err.code === code;

describe('block codec', () => {
  it('round-trips a full block and is deterministic', async () => {
    const raw = Buffer.concat([seededBytes('a', BLOCK_SIZE / 2), Buffer.alloc(BLOCK_SIZE / 2, 'x')]);
    const c1 = await compressBlock(raw);
    const c2 = await compressBlock(raw);
    assert.deepEqual(c1, c2);
    assert.deepEqual(compressBlockSync(raw), c1);
    assert.ok(c1.length < raw.length);
    assert.deepEqual(await decompressBlock(c1, raw.length), raw);
  });

  it('rejects a block that decompresses to another size, or not at all', async () => {
    const c = await compressBlock(Buffer.from('hello world'));
    await assert.rejects(decompressBlock(c, 5), isCode('KINDLING_BLOCK_CORRUPT'));
    await assert.rejects(decompressBlock(c, 20), isCode('KINDLING_BLOCK_CORRUPT'));
    await assert.rejects(decompressBlock(Buffer.from('not gzip'), 11), isCode('KINDLING_BLOCK_CORRUPT'));
  });

  it('decompresses a block larger than one output chunk (4 MiB) whole', async () => {
    const raw = seededBytes('big', 5 * 1024 * 1024 + 3);
    assert.deepEqual(await decompressBlock(await compressBlock(raw), raw.length), raw);
  });

  it('checks digests at the boundary', () => {
    const d = sha256Digest(Buffer.from('x'));
    assert.equal(parseDigest(d), d);
    assert.throws(() => parseDigest('sha256:../../etc/passwd'), isCode('KINDLING_DIGEST_INVALID'));
    assert.throws(() => parseDigest(d.toUpperCase()), isCode('KINDLING_DIGEST_INVALID'));
  });
});

describe('BlobStore', () => {
  const { dir, cleanup } = tempDir();
  after(cleanup);
  const store = new BlobStore(dir);

  it('stores by digest under sha256/<2 hex>/<hex>', async () => {
    const bytes = Buffer.from('some blob');
    const digest = await store.put(bytes);
    assert.equal(digest, sha256Digest(bytes));
    assert.match(store.pathOf(digest), /sha256\/[a-f0-9]{2}\/[a-f0-9]{64}$/);
    assert.equal(await store.has(digest), true);
    assert.equal(await store.size(digest), bytes.length);
    assert.deepEqual(await store.get(digest), bytes);
    assert.deepEqual(await store.getRange(digest, 5, 100), Buffer.from('blob'));
  });

  it('rejects bytes that do not match the claimed digest', async () => {
    const claimed = sha256Digest(Buffer.from('a'));
    await assert.rejects(store.putVerified(claimed, Buffer.from('b')), isCode('KINDLING_DIGEST_INVALID'));
    assert.equal(await store.has(claimed), false);
  });

  it('detects a corrupt blob on read, deletes it, and accepts a good copy again', async () => {
    const bytes = seededBytes('corrupt', 1000);
    const digest = await store.put(bytes);
    const path = store.pathOf(digest);
    const bad = Buffer.from(readFileSync(path));
    bad[10] = (bad[10] ?? 0) ^ 0xff;
    writeFileSync(path, bad);
    await assert.rejects(store.get(digest), isCode('KINDLING_BLOCK_CORRUPT'));
    assert.equal(await store.has(digest), false);
    await assert.rejects(store.get(digest), isCode('KINDLING_BLOB_UNKNOWN'));
    await store.putVerified(digest, bytes);
    assert.deepEqual(await store.get(digest), bytes);
  });

  it('lists which of many digests are present, from the fan-out directories', async () => {
    const own = new BlobStore(tempDir('kindling-store-present-').dir);
    const absent = Array.from({ length: 50 }, (_, i) => sha256Digest(Buffer.from(`absent ${i}`)));
    assert.deepEqual(await own.present(absent), new Set());
    const held = await Promise.all(
      Array.from({ length: 50 }, (_, i) => own.put(seededBytes(`held ${i}`, 10))),
    );
    const all = [...absent, ...held];
    assert.deepEqual(await own.present(all), new Set(held));
    for (const d of all) assert.equal(await own.has(d), held.includes(d));
  });

  it('stores again after its directories were removed under it', async () => {
    const own = new BlobStore(tempDir('kindling-store-rm-').dir);
    await own.put(seededBytes('before', 100));
    rmSync(own.root, { recursive: true, force: true });
    const bytes = seededBytes('after', 100);
    const digest = sha256Digest(bytes);
    await own.putTrusted(digest, bytes);
    assert.deepEqual(await own.get(digest), bytes);
  });
});

describe('parseByteRange', () => {
  it('parses the single-range forms and ignores the rest', () => {
    assert.deepEqual(parseByteRange('bytes=0-9', 100), { start: 0, end: 9, size: 100 });
    assert.deepEqual(parseByteRange('bytes=90-', 100), { start: 90, end: 99, size: 100 });
    assert.deepEqual(parseByteRange('bytes=-10', 100), { start: 90, end: 99, size: 100 });
    assert.deepEqual(parseByteRange('bytes=50-500', 100), { start: 50, end: 99, size: 100 });
    assert.equal(parseByteRange(undefined, 100), undefined);
    assert.equal(parseByteRange('bytes=0-1,5-6', 100), undefined);
    assert.equal(parseByteRange('items=0-1', 100), undefined);
    assert.equal(parseByteRange('bytes=9-1', 100), undefined);
  });

  it('rejects a range that starts past the end', () => {
    assert.throws(() => parseByteRange('bytes=100-', 100), isCode('KINDLING_RANGE_NOT_SATISFIABLE'));
    assert.throws(() => parseByteRange('bytes=-0', 100), isCode('KINDLING_RANGE_NOT_SATISFIABLE'));
  });
});
