/**
 * The tc script that shapes a test-cluster link. The netns cluster test checks that the kernel takes
 * it and that traffic lands in each peer's class; these check what it says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fairShapingBatch,
  leafQueueBytes,
  parseLinkQueue,
  peerClassId,
  type LinkShaping,
} from '../../src/cluster/link-shaping.js';

const peers = ['10.200.1.1', '10.200.1.2', '10.200.1.10'];
const upload: LinkShaping = { bitsPerSec: 100e6, peers, match: 'dst' };

test('a fair link has one rate-limited class and under it a class, a queue and a filter per peer', () => {
  const lines = fairShapingBatch('eth0', upload);
  assert.equal(lines[0], 'qdisc replace dev eth0 root handle 1: htb default 2');
  assert.match(
    lines[1]!,
    /^class add dev eth0 parent 1: classid 1:1 htb rate 100000000bit ceil 100000000bit /,
  );
  const leaves = lines.filter((l) => l.startsWith('class add dev eth0 parent 1:1 '));
  // The default class and one per peer, each guaranteed an equal share and allowed the whole rate.
  assert.equal(leaves.length, peers.length + 1);
  for (const leaf of leaves) assert.match(leaf, / rate 25000000bit ceil 100000000bit /);
  assert.equal(lines.filter((l) => / bfifo limit /.test(l)).length, peers.length + 1);
  for (const peer of peers) {
    const filter = lines.find((l) => l.includes(`match ip dst ${peer}/32`));
    assert.ok(filter, `a filter for ${peer}`);
    assert.ok(filter.endsWith(`flowid ${peerClassId(upload, peer)}`));
  }
  // Class ids are hex, as tc reads them: the third peer's is 1:12 (18).
  assert.equal(peerClassId(upload, '10.200.1.10'), '1:12');
  assert.equal(peerClassId(upload, '10.200.1.99'), undefined);
});

test('the download side classifies by source address', () => {
  const lines = fairShapingBatch('p3', { ...upload, match: 'src' });
  assert.equal(lines.filter((l) => / match ip src /.test(l)).length, peers.length);
  assert.equal(lines.filter((l) => / match ip dst /.test(l)).length, 0);
});

test('a fifo link has the rate and one queue, no per-peer classes', () => {
  const fifo: LinkShaping = { ...upload, queue: 'fifo' };
  const lines = fairShapingBatch('eth0', fifo);
  assert.equal(lines.filter((l) => l.startsWith('filter ')).length, 0);
  assert.equal(lines.filter((l) => l.startsWith('class add dev eth0 parent 1:1 ')).length, 1);
  // The one queue holds 100 ms at the link's rate, as a token bucket with `latency 100ms` does.
  assert.ok(lines.includes(`qdisc add dev eth0 parent 1:2 bfifo limit ${100e6 / 8 / 10}`));
  assert.equal(peerClassId(fifo, peers[0]!), undefined);
});

test('each queue holds its share of 100 ms but never less than a few offloaded packets', () => {
  assert.equal(leafQueueBytes(200e6, 1), 2_500_000);
  assert.equal(leafQueueBytes(200e6, 5), 500_000);
  assert.equal(leafQueueBytes(100e6, 20), 256 * 1024);
});

test('with latency each queue is a netem delay', () => {
  const lines = fairShapingBatch('eth0', { ...upload, latencyMs: 1 });
  assert.equal(lines.filter((l) => / netem delay 1ms limit \d+$/.test(l)).length, peers.length + 1);
  assert.equal(lines.filter((l) => / bfifo /.test(l)).length, 0);
});

test('bad shaping is refused with a message that says what to fix', () => {
  assert.throws(() => fairShapingBatch('eth0', { ...upload, bitsPerSec: 1000 }), /below 64kbit/);
  assert.throws(() => fairShapingBatch('eth0', { ...upload, peers: ['10.0.0.1', '10.0.0.1'] }), /repeat/);
  assert.throws(() => fairShapingBatch('eth0', { ...upload, peers: ['host-a'] }), /not an IPv4 address/);
  assert.equal(parseLinkQueue('fifo'), 'fifo');
  assert.throws(() => parseLinkQueue('fq'), /use fair \(a queue per peer\) or fifo/);
});
