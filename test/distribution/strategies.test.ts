/**
 * The strategies and the hub on their own: pure, synchronous, deterministic.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { DistributionHub } from '../../src/distribution/distribution-hub.js';
import { RegistryStrategy } from '../../src/distribution/registry-strategy.js';
import type { BlockOrigin, BlockRequest } from '../../src/distribution/strategy.js';
import { SwarmStrategy } from '../../src/distribution/swarm-strategy.js';
import { TreeStrategy } from '../../src/distribution/tree-strategy.js';

const D = (i: number): string => `sha256:${i.toString(16).padStart(64, '0')}`;
const req = (host: string, digest = D(1), fn = 'acme/fn'): BlockRequest => ({
  fn,
  repository: 'acme/fn',
  digest,
  host,
});
const names = (origins: readonly BlockOrigin[]): string[] =>
  origins.map((o) => (o.kind === 'registry' ? 'registry' : o.host));

describe('RegistryStrategy', () => {
  it('always answers the registry, and rejects a bad limit', () => {
    const s = new RegistryStrategy(8);
    assert.deepEqual(names(s.sourcesFor()), ['registry']);
    assert.throws(
      () => new RegistryStrategy(0),
      (e: unknown) => KindlingError.is(e) && e.code === 'KINDLING_INVALID_CONFIG',
    );
  });
});

describe('TreeStrategy', () => {
  it('names the parent, then (only as fallbacks) other holders, the registry last; the root gets the registry', () => {
    const s = new TreeStrategy();
    for (const h of ['a', 'b', 'c', 'd']) s.join('acme/fn', h);
    assert.deepEqual(names(s.sourcesFor(req('a'))), ['registry']);
    assert.deepEqual(names(s.sourcesFor(req('d'))), ['b', 'registry']);
    s.blockStored(req('c'));
    s.blockStored(req('a'));
    assert.deepEqual(names(s.sourcesFor(req('d'))), ['b', 'c', 'a', 'registry']);
    s.sourceFailed(req('d'), { kind: 'peer', host: 'c' });
    assert.deepEqual(names(s.sourcesFor(req('d'))), ['b', 'a', 'registry']);
  });

  it('turns tree changes into source changes: the removed host gets none, its children a new parent', () => {
    const s = new TreeStrategy();
    for (const h of ['a', 'b', 'c', 'd', 'e']) s.join('acme/fn', h);
    const changes = s.leave('b');
    const byHost = new Map(changes.map((c) => [c.host, c.source]));
    assert.equal(byHost.get('b'), undefined);
    assert.ok(byHost.has('b'));
    for (const [host, source] of byHost) {
      if (host === 'b') continue;
      const parent = s.ft.treeOf('acme/fn')?.parentOf(host);
      assert.deepEqual(source, parent === 'registry' ? { kind: 'registry' } : { kind: 'peer', host: parent });
    }
    assert.ok(changes.length >= 2);
  });
});

describe('SwarmStrategy (the tracker)', () => {
  it('names holders, then earlier receivers, never the asker, the registry last', () => {
    const s = new SwarmStrategy({ peersPerBlock: 8 });
    for (const h of ['a', 'b', 'c', 'd']) s.join('acme/fn', h);
    assert.deepEqual(names(s.sourcesFor(req('a'))), ['registry']); // a is now receiving
    assert.deepEqual(names(s.sourcesFor(req('b'))), ['a', 'registry']); // b streams from a
    s.blockStored(req('a'));
    const c = names(s.sourcesFor(req('c')));
    assert.deepEqual(c.slice(0, 2), ['a', 'b']);
    assert.equal(c.at(-1), 'registry');
    assert.equal(s.holders('acme/fn', D(1)), 3);
  });

  it('never points a retrying receiver at one that started after it (no two hosts wait on each other)', () => {
    const s = new SwarmStrategy();
    s.sourcesFor(req('a'));
    s.sourcesFor(req('b'));
    assert.deepEqual(names(s.sourcesFor(req('a'))), ['registry']);
    assert.deepEqual(names(s.sourcesFor(req('b'))), ['a', 'registry']);
  });

  it('spreads uploads: the peer with fewer assigned uploads is named first', () => {
    const s = new SwarmStrategy({ peersPerBlock: 2, maxUploadsPerPeer: 1 });
    s.blockStored(req('x'));
    s.blockStored(req('y'));
    const first = names(s.sourcesFor(req('a')))[0] as string;
    const second = names(s.sourcesFor(req('b')))[0] as string;
    assert.notEqual(first, second);
    assert.equal(s.uploadsOf(first), 1);
    s.blockStored(req('a'));
    assert.equal(s.uploadsOf(first), 0);
  });

  it('names a receiver with spare upload before a holder at its upload cap', () => {
    const s = new SwarmStrategy({ peersPerBlock: 4, maxUploadsPerPeer: 1 });
    s.blockStored(req('h')); // the only holder
    assert.deepEqual(names(s.sourcesFor(req('a'))), ['h', 'registry']); // h is now at its cap
    // b: a holder at its cap and an earlier receiver with no uploads: the receiver goes first.
    assert.deepEqual(names(s.sourcesFor(req('b'))), ['a', 'h', 'registry']);
    // c: only b is below its cap; at the cap, holders before receivers.
    assert.deepEqual(names(s.sourcesFor(req('c'))), ['b', 'h', 'a', 'registry']);
    assert.deepEqual(
      ['h', 'a', 'b'].map((p) => s.uploadsOf(p)),
      [1, 1, 1],
    );
    // Once h's upload to a ends, h is below its cap again and named first.
    s.blockStored(req('a'));
    assert.deepEqual(names(s.sourcesFor(req('d')))[0], 'h');
  });

  it('forgets a peer that failed, and every trace of a host that left', () => {
    const s = new SwarmStrategy();
    s.blockStored(req('x'));
    s.blockStored(req('y'));
    s.sourceFailed(req('a'), { kind: 'peer', host: 'x' });
    assert.deepEqual(names(s.sourcesFor(req('a'))), ['y', 'registry']);
    s.leave('y');
    assert.deepEqual(names(s.sourcesFor(req('b'))), ['a', 'registry']);
    assert.equal(s.uploadsOf('y'), 0);
  });
});

describe('DistributionHub', () => {
  it('makes membership idempotent, fixes a strategy per function, and logs source changes per host', async () => {
    const clock = new ManualClock();
    const hub = new DistributionHub({
      strategies: [new TreeStrategy(), new SwarmStrategy()],
      strategyFor: (fn) => (fn.startsWith('swarm/') ? 'swarm' : undefined),
      clock,
    });
    assert.equal(hub.strategyOf('swarm/x').name, 'swarm');
    assert.equal(hub.strategyOf('acme/x').name, 'tree');
    for (const h of ['a', 'b', 'c']) hub.join('acme/x', h);
    assert.deepEqual(hub.join('acme/x', 'b'), []);
    assert.deepEqual(hub.membersOf('acme/x'), ['a', 'b', 'c']);
    const start = hub.lastSeq;
    const waiting = hub.waitForChanges('b', start, 1000);
    hub.remove('acme/x', 'a');
    const got = await waiting;
    assert.ok(got.changes.length >= 1);
    assert.ok(got.changes.every((c) => c.host === 'b'));
    // Nothing for c after the last change: the wait ends on the clock's timeout.
    const empty = hub.waitForChanges('c', hub.lastSeq, 1000);
    clock.advance(1000);
    assert.deepEqual((await empty).changes, []);
  });

  it('rejects an unknown per-function strategy with the fix in the message', () => {
    const hub = new DistributionHub({
      strategies: [new RegistryStrategy(4)],
      strategyFor: () => 'tree',
      clock: new ManualClock(),
    });
    assert.throws(
      () => hub.join('acme/x', 'a'),
      (e: unknown) =>
        KindlingError.is(e) && e.code === 'KINDLING_INVALID_CONFIG' && /registry/.test(e.message),
    );
  });

  it('tells a host that fell behind a trimmed log to re-read its sources', () => {
    const hub = new DistributionHub({
      strategies: [new TreeStrategy()],
      clock: new ManualClock(),
      changeLogSize: 2,
    });
    for (const h of ['a', 'b', 'c', 'd']) hub.join('acme/x', h);
    assert.equal(hub.changesAfter('a', 0).reset, true);
    assert.equal(hub.changesAfter('a', hub.lastSeq).reset, false);
  });
});
