/**
 * The simulator's Transport on cases small enough to check by hand. Links are 8 Mbit/s = 1000 bytes
 * per ms, so an 8000-byte block takes 8 ms alone on a link.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { BlockFetcher } from '../../src/distribution/block-fetcher.js';
import { DistributionHub } from '../../src/distribution/distribution-hub.js';
import { RegistryStrategy } from '../../src/distribution/registry-strategy.js';
import { InProcessSourceDirectory } from '../../src/distribution/source-directory.js';
import { REGISTRY_ORIGIN, type BlockRequest } from '../../src/distribution/strategy.js';
import { sha256Digest } from '../../src/image/digest.js';
import type { Digest } from '../../src/image/manifest.js';
import { runSimulation } from '../../src/sim/dist-sim.js';
import { Network } from '../../src/sim/network.js';
import { SimBlockStore } from '../../src/sim/sim-block-store.js';
import { SimClock } from '../../src/sim/sim-clock.js';
import { SimTransport } from '../../src/sim/sim-transport.js';

const BLOCK = 8000;

function setup(hosts: string[], registryMbps = 8, requesterTurns = false) {
  const clock = new SimClock();
  const network = new Network(clock);
  network.addNode('registry', { upMbps: registryMbps, downMbps: registryMbps });
  const payload = Buffer.from('block zero');
  const digest = sha256Digest(payload);
  const transport = new SimTransport({
    network,
    registryNode: 'registry',
    registry: new Map([[digest, payload]]),
    sizeOf: () => BLOCK,
    requesterTurns,
  });
  const hub = new DistributionHub({ strategies: [new RegistryStrategy(8)], clock });
  const fetchers = new Map<string, BlockFetcher>();
  for (const h of hosts) {
    network.addNode(h, { upMbps: 8, downMbps: 8 });
    const store = new SimBlockStore();
    const fetcher = new BlockFetcher({
      host: h,
      store,
      directory: new InProcessSourceDirectory(hub, h),
      transport,
      clock,
    });
    transport.addHost(h, store, fetcher);
    fetchers.set(h, fetcher);
  }
  const request = (host: string): BlockRequest => ({ fn: 'f', repository: 'f', digest, host });
  return { clock, transport, fetchers, digest, payload, request };
}

/** Runs `fetches` to the end; returns when each resolved (virtual ms). */
async function timed(clock: SimClock, fetches: Promise<unknown>[]): Promise<number[]> {
  const at: number[] = fetches.map(() => Number.NaN);
  let left = fetches.length;
  fetches.forEach((p, i) =>
    p.then(() => {
      at[i] = clock.now();
      left--;
    }),
  );
  await runSimulation(clock, () => left === 0);
  return at;
}

describe('SimTransport', () => {
  it('one flow: 8000 bytes over 8 Mbit/s links take 8 ms and return the registry bytes', async () => {
    const { clock, transport, request, payload } = setup(['a']);
    const got = transport.fetchBlock(REGISTRY_ORIGIN, request('a'));
    assert.deepEqual(await timed(clock, [got]), [8]);
    assert.deepEqual(await got, payload);
    assert.equal(transport.registryBytes, BLOCK);
    assert.equal(transport.peerBytes, 0);
  });

  it('two flows sharing the registry uplink get half each: both end at 16 ms', async () => {
    const { clock, transport, request } = setup(['a', 'b']);
    const times = await timed(clock, [
      transport.fetchBlock(REGISTRY_ORIGIN, request('a')),
      transport.fetchBlock(REGISTRY_ORIGIN, request('b')),
    ]);
    assert.deepEqual(times, [16, 16]);
    assert.equal(transport.registryBytes, 2 * BLOCK);
  });

  it("with requester turns a host's two blocks in flight arrive one after the other: 8 and 16 ms", async () => {
    const without = setup(['a']);
    assert.deepEqual(
      await timed(without.clock, [
        without.transport.fetchBlock(REGISTRY_ORIGIN, without.request('a')),
        without.transport.fetchBlock(REGISTRY_ORIGIN, without.request('a')),
      ]),
      [16, 16],
    );
    const withTurns = setup(['a', 'b'], 8, true);
    assert.deepEqual(
      await timed(withTurns.clock, [
        withTurns.transport.fetchBlock(REGISTRY_ORIGIN, withTurns.request('a')),
        withTurns.transport.fetchBlock(REGISTRY_ORIGIN, withTurns.request('a')),
      ]),
      [8, 16],
    );
    // Two requesters still share the source's link.
    const start = withTurns.clock.now();
    const times = await timed(withTurns.clock, [
      withTurns.transport.fetchBlock(REGISTRY_ORIGIN, withTurns.request('a')),
      withTurns.transport.fetchBlock(REGISTRY_ORIGIN, withTurns.request('b')),
    ]);
    assert.deepEqual(
      times.map((t) => t - start),
      [16, 16],
    );
  });

  it('a faster registry uplink is not shared: two hosts each fetch at their own downlink rate', async () => {
    const { clock, transport, request } = setup(['a', 'b'], 16);
    const times = await timed(clock, [
      transport.fetchBlock(REGISTRY_ORIGIN, request('a')),
      transport.fetchBlock(REGISTRY_ORIGIN, request('b')),
    ]);
    assert.deepEqual(times, [8, 8]);
  });

  it('a peer that gets the block later answers once it has it: 8 ms to the peer, 8 ms on', async () => {
    const { clock, transport, fetchers, request, digest, payload } = setup(['a', 'b']);
    // b asks a at time 0; a only starts fetching from the registry at 5 ms.
    const fromPeer = transport.fetchBlock({ kind: 'peer', host: 'a' }, request('b'));
    let aDone: Promise<unknown> = Promise.resolve();
    clock.setTimer(() => {
      aDone = fetchers.get('a')!.fetch({ fn: 'f', repository: 'f', blocks: [digest] }).done;
    }, 5);
    const [t] = await timed(clock, [fromPeer]);
    await aDone;
    assert.equal(t, 5 + 8 + 8);
    assert.deepEqual(await fromPeer, payload);
    assert.equal(transport.registryBytes, BLOCK);
    assert.equal(transport.peerBytes, BLOCK);
    assert.equal(transport.uploadedBy.get('a'), BLOCK);
  });

  it('an aborted fetch cancels its flow and rejects with the reason; unknown sources are clear errors', async () => {
    const { clock, transport, request } = setup(['a', 'b']);
    const ctl = new AbortController();
    const slow = assert.rejects(
      transport.fetchBlock(REGISTRY_ORIGIN, request('a'), ctl.signal),
      (e: unknown) => KindlingError.is(e) && e.code === 'KINDLING_TIMEOUT',
    );
    const other = transport.fetchBlock(REGISTRY_ORIGIN, request('b'));
    clock.setTimer(() => ctl.abort(new KindlingError('KINDLING_TIMEOUT', 'gave up')), 4);
    const [t] = await timed(clock, [other]);
    await slow;
    // b had half the uplink for 4 ms (2000 bytes), then all of it: 6000 bytes more take 6 ms.
    assert.equal(t, 10);
    await assert.rejects(
      transport.fetchBlock({ kind: 'peer', host: 'nobody' }, request('a')),
      (e: unknown) => KindlingError.is(e) && e.code === 'KINDLING_UNAVAILABLE',
    );
    const unknown: Digest = sha256Digest(Buffer.from('not in the registry'));
    await assert.rejects(
      transport.fetchBlock(REGISTRY_ORIGIN, { ...request('a'), digest: unknown }),
      (e: unknown) => KindlingError.is(e) && e.code === 'KINDLING_BLOB_UNKNOWN',
    );
  });
});
