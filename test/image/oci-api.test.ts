import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { BlobStore } from '../../src/image/blob-store.js';
import { buildImage, type BuiltImage } from '../../src/image/builder.js';
import { sha256Digest } from '../../src/image/digest.js';
import { HttpRegistryClient } from '../../src/image/http-registry.js';
import { MANIFEST_MEDIA_TYPE } from '../../src/image/manifest.js';
import { materializeImage } from '../../src/image/materialize.js';
import { LocalRegistry, pushImage } from '../../src/image/registry.js';
import { seededBytes, tempDir, writeTree } from './helpers.js';
import { startOciServer, TEST_TOKEN } from './oci-server.js';

const auth = { authorization: `Bearer ${TEST_TOKEN}` };

/** Asserts an OCI error response and returns its first error. */
async function ociError(
  res: Response,
  status: number,
  code: string,
): Promise<{ code: string; message: string; detail: unknown }> {
  assert.equal(res.status, status);
  const body = (await res.json()) as { errors: Array<{ code: string; message: string; detail: unknown }> };
  assert.equal(body.errors.length, 1);
  const first = body.errors[0];
  assert.ok(first);
  assert.equal(first.code, code, first.message);
  assert.ok(first.message.length > 0);
  return first;
}

describe('OCI distribution API', () => {
  const tmp = tempDir('kindling-oci-');
  let app: FastifyInstance;
  let url: string;
  let image: BuiltImage;
  let client: HttpRegistryClient;
  const files = {
    'index.js': 'export const handler = () => "oci";\n',
    'data.bin': seededBytes('oci', 900 * 1024),
  };

  before(async () => {
    ({ app, url } = await startOciServer(new LocalRegistry(join(tmp.dir, 'registry'))));
    client = new HttpRegistryClient({ baseUrl: `${url}/v2/`, token: TEST_TOKEN });
    const dir = join(tmp.dir, 'fn');
    mkdirSync(dir);
    writeTree(dir, { 'kindling.json': '{"bundle":false}', ...files });
    image = await buildImage(dir);
  });
  after(async () => {
    await app.close();
    tmp.cleanup();
  });

  it('answers GET /v2/ with {}', async () => {
    const res = await fetch(`${url}/v2/`, { headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(await res.json(), {});
  });

  it('pushes with the HTTP client, then pulls and materialises byte-identical', async () => {
    const pushed = await pushImage(image, client, 'acme/web', 'latest');
    assert.equal(pushed.digest, image.digest);
    const m = await materializeImage({
      source: client,
      name: 'acme/web',
      ref: 'latest',
      cache: new BlobStore(join(tmp.dir, 'cache')),
      imagesDir: join(tmp.dir, 'images'),
    });
    assert.equal(m.digest, image.digest);
    for (const [path, bytes] of Object.entries(files))
      assert.deepEqual(readFileSync(join(m.dir, path)), Buffer.from(bytes));
  });

  it('serves HEAD for manifests and blobs with digest, type and length', async () => {
    const res = await fetch(`${url}/v2/acme/web/manifests/latest`, { method: 'HEAD', headers: auth });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MANIFEST_MEDIA_TYPE);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.equal(res.headers.get('content-length'), String(image.manifestBytes.length));
    assert.equal((await res.arrayBuffer()).byteLength, 0);

    const [digest, bytes] = [...image.blocks][0] ?? [];
    assert.ok(digest && bytes);
    const blob = await fetch(`${url}/v2/acme/web/blobs/${digest}`, { method: 'HEAD', headers: auth });
    assert.equal(blob.status, 200);
    assert.equal(blob.headers.get('content-length'), String(bytes.length));
    assert.equal(blob.headers.get('accept-ranges'), 'bytes');
    assert.equal(blob.headers.get('docker-content-digest'), digest);
  });

  it('serves byte ranges with 206, and 416 past the end', async () => {
    const [digest, bytes] = [...image.blocks][0] ?? [];
    assert.ok(digest && bytes);
    const part = await fetch(`${url}/v2/acme/web/blobs/${digest}`, {
      headers: { ...auth, range: 'bytes=10-19' },
    });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 10-19/${bytes.length}`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(10, 20));

    const tail = await fetch(`${url}/v2/acme/web/blobs/${digest}`, {
      headers: { ...auth, range: 'bytes=-5' },
    });
    assert.equal(tail.status, 206);
    assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 5));

    const beyond = await fetch(`${url}/v2/acme/web/blobs/${digest}`, {
      headers: { ...auth, range: `bytes=${bytes.length}-` },
    });
    assert.equal(beyond.headers.get('content-range'), `bytes */${bytes.length}`);
    await ociError(beyond, 416, 'RANGE_INVALID');
  });

  it('answers unknown blobs and manifests in the OCI error format', async () => {
    const unknown = sha256Digest(Buffer.from('nothing'));
    const blob = await ociError(
      await fetch(`${url}/v2/acme/web/blobs/${unknown}`, { headers: auth }),
      404,
      'BLOB_UNKNOWN',
    );
    assert.match(blob.message, new RegExp(unknown));
    await ociError(
      await fetch(`${url}/v2/acme/web/manifests/nope`, { headers: auth }),
      404,
      'MANIFEST_UNKNOWN',
    );
    await ociError(
      await fetch(`${url}/v2/acme/web/blobs/sha256:abc`, { headers: auth }),
      400,
      'DIGEST_INVALID',
    );
  });

  it('rejects invalid names, invalid manifests and manifests with missing blocks', async () => {
    await ociError(
      await fetch(`${url}/v2/Acme/Web/manifests/latest`, { headers: auth }),
      400,
      'NAME_INVALID',
    );
    const put = (ref: string, body: string | Buffer) =>
      fetch(`${url}/v2/acme/web/manifests/${ref}`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': MANIFEST_MEDIA_TYPE },
        body,
      });
    const invalid = await ociError(
      await put('bad', JSON.stringify({ ...image.manifest, blockSize: -1 })),
      400,
      'MANIFEST_INVALID',
    );
    assert.match(invalid.message, /blockSize/);
    const missing = sha256Digest(Buffer.from('not pushed'));
    const manifest = JSON.parse(image.manifestBytes.toString()) as {
      layers: Array<{ blocks: Array<{ digest: string }> }>;
    };
    const block = manifest.layers[0]?.blocks[0];
    assert.ok(block);
    block.digest = missing;
    const unknown = await ociError(
      await put('broken', JSON.stringify(manifest)),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
    assert.match(unknown.message, new RegExp(missing));
  });

  it('puts manifests with 201, Location and Docker-Content-Digest, and lists tags page by page', async () => {
    for (const tag of ['a', 'b', 'c']) {
      const res = await fetch(`${url}/v2/acme/tags-test/manifests/${tag}`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': MANIFEST_MEDIA_TYPE },
        body: image.manifestBytes,
      });
      // The blocks were pushed to acme/web, not here: per-repository links make this a missing-blob error.
      await ociError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
    }
    await pushImage(image, client, 'acme/tags-test', 'a');
    for (const tag of ['b', 'c']) {
      const res = await fetch(`${url}/v2/acme/tags-test/manifests/${tag}`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': MANIFEST_MEDIA_TYPE },
        body: image.manifestBytes,
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), `/v2/acme/tags-test/manifests/${image.digest}`);
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
    }
    const page = await fetch(`${url}/v2/acme/tags-test/tags/list?n=2`, { headers: auth });
    assert.deepEqual(await page.json(), { name: 'acme/tags-test', tags: ['a', 'b'] });
    assert.equal(page.headers.get('link'), '</v2/acme/tags-test/tags/list?n=2&last=b>; rel="next"');
    const rest = await fetch(`${url}/v2/acme/tags-test/tags/list?n=2&last=b`, { headers: auth });
    assert.deepEqual(await rest.json(), { name: 'acme/tags-test', tags: ['c'] });
    // A repository nothing was pushed to is unknown, as the OCI distribution spec has it.
    const unknown = await fetch(`${url}/v2/acme/never-pushed/tags/list`, { headers: auth });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { errors: { code: string }[] }).errors[0]!.code, 'NAME_UNKNOWN');
  });

  it('takes chunked uploads: POST, PATCH, PUT ?digest=', async () => {
    const blob = seededBytes('chunked', 3000);
    const digest = sha256Digest(blob);
    const start = await fetch(`${url}/v2/acme/up/blobs/uploads/`, { method: 'POST', headers: auth });
    assert.equal(start.status, 202);
    const location = start.headers.get('location');
    assert.match(location ?? '', /^\/v2\/acme\/up\/blobs\/uploads\/[0-9a-f-]{36}$/);
    const patch = await fetch(`${url}${location}`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: blob.subarray(0, 1000),
    });
    assert.equal(patch.status, 202);
    assert.equal(patch.headers.get('range'), '0-999');
    const wrong = await fetch(`${url}${location}?digest=${sha256Digest(Buffer.from('x'))}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: blob.subarray(1000),
    });
    await ociError(wrong, 400, 'DIGEST_INVALID');

    const again = await fetch(`${url}/v2/acme/up/blobs/uploads/`, { method: 'POST', headers: auth });
    const loc2 = again.headers.get('location');
    await fetch(`${url}${loc2}`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: blob.subarray(0, 1000),
    });
    const done = await fetch(`${url}${loc2}?digest=${digest}`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: blob.subarray(1000),
    });
    assert.equal(done.status, 201);
    assert.equal(done.headers.get('location'), `/v2/acme/up/blobs/${digest}`);
    assert.deepEqual(await client.getBlob('acme/up', digest), blob);
    await ociError(
      await fetch(`${url}${loc2}`, { method: 'PATCH', headers: auth, body: 'x' }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
  });

  it('takes monolithic uploads and rejects a digest mismatch', async () => {
    const blob = Buffer.from('monolithic');
    const res = await fetch(`${url}/v2/acme/up/blobs/uploads/?digest=${sha256Digest(blob)}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: blob,
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), sha256Digest(blob));
    const bad = await fetch(`${url}/v2/acme/up/blobs/uploads/?digest=${sha256Digest(Buffer.from('other'))}`, {
      method: 'POST',
      headers: auth,
      body: blob,
    });
    await ociError(bad, 400, 'DIGEST_INVALID');
  });

  it('refuses bodies over the limit with 413', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024 + 1);
    const res = await fetch(`${url}/v2/acme/up/blobs/uploads/?digest=${sha256Digest(big)}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: big,
    });
    await ociError(res, 413, 'SIZE_INVALID');
  });

  it('maps authorisation refusals to 401 UNAUTHORIZED and 403 DENIED', async () => {
    await ociError(await fetch(`${url}/v2/acme/web/manifests/latest`), 401, 'UNAUTHORIZED');
    await ociError(await fetch(`${url}/v2/other/web/manifests/latest`, { headers: auth }), 403, 'DENIED');
    await ociError(
      await fetch(`${url}/v2/readonly/x/blobs/uploads/`, { method: 'POST', headers: auth }),
      403,
      'DENIED',
    );
    const c = new HttpRegistryClient({ baseUrl: url, token: 'wrong' });
    await assert.rejects(
      c.getManifest('acme/web', 'latest'),
      (err: unknown) => (err as { code?: string }).code === 'KINDLING_UNAUTHORIZED',
    );
  });

  it('deletes tags with 202', async () => {
    const res = await fetch(`${url}/v2/acme/web/manifests/latest`, { method: 'DELETE', headers: auth });
    assert.equal(res.status, 202);
    await ociError(
      await fetch(`${url}/v2/acme/web/manifests/latest`, { headers: auth }),
      404,
      'MANIFEST_UNKNOWN',
    );
  });

  it('keeps its raw-body parsers to itself', async () => {
    const res = await fetch(`${url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    assert.deepEqual(await res.json(), { got: { a: 1 } });
  });
});
