/**
 * Lazy loading in cluster mode (loopback): the first cold start anywhere records the image's startup
 * working set; a later cold start on another host starts its sandbox once those blocks are local,
 * fetches the rest in the background, and a file outside the working set that the function reads
 * before it has arrived is fetched on demand.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { eventually, tempDir } from '../helpers/platform.js';

const MiB = 1024 * 1024;
const BIG = randomBytes(6 * MiB);

function lazyFunction(): string {
  const dir = tempDir('kindling-lazy-fn-');
  mkdirSync(join(dir, 'data'));
  writeFileSync(
    join(dir, 'index.js'),
    `const fs = require('node:fs');
const meta = JSON.parse(fs.readFileSync(__dirname + '/data/meta.json', 'utf8'));
exports.handler = async (event) => ({
  meta,
  big: event.readBig ? fs.statSync(__dirname + '/data/big.bin').size : null,
  bigSha: event.hashBig
    ? require('node:crypto').createHash('sha256').update(fs.readFileSync(__dirname + '/data/big.bin')).digest('hex')
    : undefined,
  late: event.late ? require('./data/late.js').v : undefined,
});
`,
  );
  writeFileSync(join(dir, 'data', 'meta.json'), JSON.stringify({ v: 1 }));
  // Never read at start: most of the image, outside the working set.
  writeFileSync(join(dir, 'data', 'big.bin'), BIG);
  writeFileSync(join(dir, 'data', 'late.js'), 'exports.v = "late";');
  writeFileSync(
    join(dir, 'kindling.json'),
    JSON.stringify({ name: 'lazy', bundle: false, entry: 'index.js' }),
  );
  return dir;
}

describe('lazy loading (cluster mode, loopback)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startTestCluster([lazyFunction()], ['host-a', 'host-b', 'host-c'], 1000, {
      lazy: true,
      distribution: 'registry',
    });
  });
  after(async () => cluster?.close());

  it('records the working set on the first cold start, then starts other hosts from it', async () => {
    const fn = await cluster.call('GET', '/v1/functions/lazy/versions/1');
    const digest = fn.body.imageDigest as string;
    const first = await cluster.call('POST', '/v1/functions/lazy/invoke?host=host-a', {});
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.body, { meta: { v: 1 }, big: null });
    const ws = await eventually(async () => {
      const r = await cluster.call('GET', `/v1/cluster/working-sets/${digest}`);
      return r.status === 200 ? (r.body as { blocks: string[] }) : undefined;
    });
    assert.ok(ws.blocks.length >= 1 && ws.blocks.length <= 3, `working set of ${ws.blocks.length} blocks`);

    const second = await cluster.call('POST', '/v1/functions/lazy/invoke?host=host-b', {});
    assert.equal(second.status, 200, second.text);
    assert.equal(second.headers.get('x-kindling-cold'), '1');
    const record = await eventually(async () => {
      const r = await cluster.call(
        'GET',
        `/v1/invocations/${second.headers.get('x-kindling-invocation-id')}`,
      );
      return r.status === 200 && r.body.status === 'succeeded' ? r.body : undefined;
    });
    assert.equal(record.fetch.lazy, true);
    assert.ok(
      record.fetch.bytesFromSource < record.fetch.imageBytes / 2,
      `fetched ${record.fetch.bytesFromSource} of ${record.fetch.imageBytes} bytes before start`,
    );

    // The rest arrives in the background; then the big file is there too.
    const big = await eventually(async () => {
      const r = await cluster.call('POST', '/v1/functions/lazy/invoke?host=host-b', { readBig: true });
      return r.status === 200 ? r.body : undefined;
    });
    assert.deepEqual(big, { meta: { v: 1 }, big: 6 * MiB });
  });

  it('reads files outside the working set on demand, on the lazy cold start itself', async () => {
    // The working set (meta.json and the entry) is known from the test above.
    const r = await cluster.call('POST', '/v1/functions/lazy/invoke?host=host-c', {
      hashBig: true,
      late: true,
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-kindling-cold'), '1');
    assert.deepEqual(r.body, {
      meta: { v: 1 },
      big: null,
      bigSha: createHash('sha256').update(BIG).digest('hex'),
      late: 'late',
    });
    const record = await eventually(async () => {
      const q = await cluster.call('GET', `/v1/invocations/${r.headers.get('x-kindling-invocation-id')}`);
      return q.status === 200 && q.body.status === 'succeeded' ? q.body : undefined;
    });
    assert.equal(record.fetch.lazy, true, 'the sandbox started from the working set');
    assert.ok(
      record.fetch.bytesFromSource < record.fetch.imageBytes / 2,
      `fetched ${record.fetch.bytesFromSource} of ${record.fetch.imageBytes} bytes before start`,
    );
  });
});
