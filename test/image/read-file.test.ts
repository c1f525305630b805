import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { buildImage } from '../../src/image/builder.js';
import { readImageFile } from '../../src/image/read-file.js';
import { LocalRegistry, pushImage } from '../../src/image/registry.js';

describe('readImageFile', () => {
  it('reads one file through the file index, including a file that spans blocks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kindling-readfile-'));
    mkdirSync(join(dir, 'node_modules', 'big'), { recursive: true });
    // ~1.3 MiB of varied bytes: spans three 512 KiB blocks.
    const big = Buffer.alloc(1_300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 9)) & 0xff;
    writeFileSync(join(dir, 'node_modules', 'big', 'data.bin'), big);
    writeFileSync(join(dir, 'index.js'), 'exports.handler = async () => 1;\n');
    writeFileSync(join(dir, 'kindling.json'), JSON.stringify({ bundle: false, entry: 'index.js' }));
    const built = await buildImage(dir);
    const registry = new LocalRegistry(join(dir, '..', `${Date.now()}-registry`));
    const { digest } = await pushImage(built, registry, 'acme/fn', 'v1');
    assert.deepEqual(await readImageFile(registry, 'acme/fn', digest, 'node_modules/big/data.bin'), big);
    assert.equal(
      (await readImageFile(registry, 'acme/fn', digest, 'index.js')).toString(),
      'exports.handler = async () => 1;\n',
    );
    await assert.rejects(
      readImageFile(registry, 'acme/fn', digest, 'missing.js'),
      (err: unknown) => KindlingError.is(err) && err.code === 'KINDLING_NOT_FOUND',
    );
  });
});
