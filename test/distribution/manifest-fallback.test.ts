/**
 * The worker's manifest source when the registry is down: peers that hold the image serve its
 * manifest, checked against the digest; answers from the registry (such as "unknown") are final.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { ManifestFallbackSource } from '../../src/distribution/manifest-fallback.js';
import type { BlockOrigin, BlockRequest, Transport } from '../../src/distribution/strategy.js';
import { sha256Digest } from '../../src/image/digest.js';
import { encodeManifest } from '../../src/image/manifest-codec.js';
import { MANIFEST_MEDIA_TYPE } from '../../src/image/manifest.js';
import type { BlockSource, ResolvedManifest } from '../../src/image/source.js';

const bytes = encodeManifest({
  schemaVersion: 2,
  mediaType: MANIFEST_MEDIA_TYPE,
  blockSize: 8,
  layers: [
    { size: 4, blocks: [{ digest: sha256Digest(Buffer.from('b')), offset: 0, size: 4, compressedSize: 9 }] },
  ],
  files: [{ path: 'index.js', layer: 0, offset: 0, size: 4, mode: 0o644 }],
  entry: 'index.js',
});
const DIGEST = sha256Digest(bytes);
const RESOLVED: ResolvedManifest = { digest: DIGEST, manifest: JSON.parse(bytes.toString()), bytes };

function registry(getManifest: () => Promise<ResolvedManifest>): BlockSource {
  return { kind: 'registry', getManifest, getBlob: () => Promise.reject(new Error('not used')) };
}
const down = () => Promise.reject(new KindlingError('KINDLING_UNAVAILABLE', 'cannot reach the registry'));

/** Peers by host id: what each sends for any request (bytes, or an error). */
function peers(answers: Record<string, Buffer | Error>): Transport & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async fetchBlock(source: BlockOrigin, request: BlockRequest) {
      assert.equal(source.kind, 'peer');
      const host = (source as { host: string }).host;
      asked.push(`${host}:${request.digest}`);
      const answer = answers[host];
      if (answer === undefined || answer instanceof Error) throw answer ?? new Error('no such peer');
      return answer;
    },
  };
}

function source(reg: BlockSource, transport: Transport, holders: string[], clock = new ManualClock()) {
  return new ManifestFallbackSource({
    registry: reg,
    holders: () => Promise.resolve(holders),
    transport,
    self: 'me',
    clock,
    registryWaitMs: 1_000,
  });
}

const isCode = (code: string, pattern?: RegExp) => (e: unknown) =>
  KindlingError.is(e) && e.code === code && (!pattern || pattern.test(e.message));

describe('ManifestFallbackSource', () => {
  it('uses the registry while it answers, asking no peer', async () => {
    const t = peers({ a: bytes });
    const s = source(
      registry(() => Promise.resolve(RESOLVED)),
      t,
      ['a'],
    );
    assert.equal((await s.getManifest('acme/fn', DIGEST)).digest, DIGEST);
    assert.deepEqual(t.asked, []);
    assert.equal(s.fromPeers, 0);
  });

  it('gets the manifest from a holder when the registry is unreachable, skipping one that lies', async () => {
    const t = peers({
      liar: Buffer.from('{"not":"it"}'),
      gone: new Error('connect ECONNREFUSED'),
      good: bytes,
    });
    const s = source(registry(down), t, ['me', 'liar', 'gone', 'good']);
    const got = await s.getManifest('acme/fn', DIGEST);
    assert.equal(got.digest, DIGEST);
    assert.equal(got.manifest.entry, 'index.js');
    // Never itself; the others in turn until one sends the right bytes.
    assert.deepEqual(t.asked, [`liar:${DIGEST}`, `gone:${DIGEST}`, `good:${DIGEST}`]);
    assert.equal(s.fromPeers, 1);
  });

  it('asks peers once the registry has not answered within the wait', async () => {
    const clock = new ManualClock();
    const t = peers({ a: bytes });
    const s = source(
      registry(() => new Promise(() => {})),
      t,
      ['a'],
      clock,
    );
    const pending = s.getManifest('acme/fn', DIGEST);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(t.asked, []);
    clock.advance(1_000);
    assert.equal((await pending).digest, DIGEST);
  });

  it('keeps waiting for a slow registry when no peer holds the image', async () => {
    const clock = new ManualClock();
    let answer!: (m: ResolvedManifest) => void;
    const s = source(
      registry(() => new Promise((r) => (answer = r))),
      peers({}),
      [],
      clock,
    );
    const pending = s.getManifest('acme/fn', DIGEST);
    await new Promise((r) => setImmediate(r));
    clock.advance(1_000);
    await new Promise((r) => setImmediate(r));
    answer(RESOLVED);
    assert.equal((await pending).digest, DIGEST);
    assert.equal(s.fromPeers, 0);
  });

  it("takes the registry's answers as final, and needs a digest to ask peers", async () => {
    const t = peers({ a: bytes });
    const unknown = () => Promise.reject(new KindlingError('KINDLING_MANIFEST_UNKNOWN', 'no such manifest'));
    await assert.rejects(
      source(registry(unknown), t, ['a']).getManifest('acme/fn', DIGEST),
      isCode('KINDLING_MANIFEST_UNKNOWN'),
    );
    // A tag cannot be checked against what a peer sends.
    await assert.rejects(
      source(registry(down), t, ['a']).getManifest('acme/fn', 'latest'),
      isCode('KINDLING_UNAVAILABLE'),
    );
    assert.deepEqual(t.asked, []);
  });

  it('says so when no holder can serve it', async () => {
    await assert.rejects(
      source(registry(down), peers({}), []).getManifest('acme/fn', DIGEST),
      isCode(
        'KINDLING_UNAVAILABLE',
        /cannot reach the registry; and no peer .*no other host holds the image/,
      ),
    );
    await assert.rejects(
      source(registry(down), peers({ a: Buffer.from('x') }), ['a']).getManifest('acme/fn', DIGEST),
      isCode('KINDLING_UNAVAILABLE', /asked a \(sent bytes hashing to sha256:/),
    );
  });
});
