/**
 * The sync-invoke fast path (answered before fastify's router) and the routed path (any request with a
 * query string, a chunked body, …) must be indistinguishable to clients: same statuses, bodies,
 * headers, records and metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, fixture, startTestPlatform, type Reply } from '../helpers/platform.js';

type P = Awaited<ReturnType<typeof startTestPlatform>>;

/** The response headers a client can rely on (names of the explaining ones, and the content type). */
function shape(res: Reply): { status: number; names: string[]; type: string | null } {
  const names = [...res.headers.keys()].filter((k) => k.startsWith('x-kindling-') || k === 'server-timing');
  return { status: res.status, names: names.sort(), type: res.headers.get('content-type') };
}

describe('sync invoke: fast path and routed path answer alike', () => {
  let p: P;
  before(async () => {
    p = await startTestPlatform([fixture('echo'), fixture('throws')]);
    await p.call('POST', '/v1/functions/echo/invoke', {}); // the cold start, out of the way
  });
  after(() => p.close());

  it('a successful invocation: same status, headers and result, and both are recorded', async () => {
    const fast = await p.call('POST', '/v1/functions/echo/invoke', { name: 'fast' });
    const routed = await p.call('POST', '/v1/functions/echo/invoke?mode=sync', { name: 'routed' });
    assert.equal(fast.status, 200, fast.text);
    assert.deepEqual(shape(fast), shape(routed));
    assert.deepEqual(fast.body.event, { name: 'fast' });
    assert.deepEqual(routed.body.event, { name: 'routed' });
    assert.equal(fast.headers.get('x-kindling-cold'), '0');
    assert.match(fast.headers.get('server-timing') ?? '', /^queue;dur=[\d.]+, place;dur=/);
    for (const res of [fast, routed]) {
      const id = res.headers.get('x-kindling-invocation-id');
      const record = await p.call('GET', `/v1/invocations/${id}`);
      assert.equal(record.status, 200);
      assert.equal(record.body.status, 'succeeded');
      assert.deepEqual(record.body.result, res.body);
    }
  });

  it('a failing handler and refusals: same statuses and error bodies', async () => {
    const pairs: [string, unknown, string | undefined, number][] = [
      ['throws', {}, undefined, 500],
      ['nope', {}, undefined, 404],
      ['echo', '{"name": ', undefined, 400],
      ['echo', {}, '', 401],
      ['echo', {}, 'kdl_not-a-key', 401],
    ];
    for (const [fn, body, key, status] of pairs) {
      const k = key ?? p.adminKey;
      const fast = await call(p.url, k, 'POST', `/v1/functions/${fn}/invoke`, body);
      const routed = await call(p.url, k, 'POST', `/v1/functions/${fn}/invoke?mode=sync`, body);
      assert.equal(fast.status, status, `${fn}: ${fast.text}`);
      assert.equal(routed.status, status, `${fn} routed: ${routed.text}`);
      assert.equal(fast.headers.get('content-type'), routed.headers.get('content-type'));
      assert.equal(fast.body.error.code, routed.body.error.code);
      if (status !== 500) assert.equal(fast.body.error.message, routed.body.error.message);
    }
  });

  it('refusals count in the metrics from either path', async () => {
    const before = await rejected(p.url, 'KINDLING_FUNCTION_NOT_FOUND');
    await p.call('POST', '/v1/functions/missing/invoke', {});
    await p.call('POST', '/v1/functions/missing/invoke?mode=sync', {});
    assert.equal(await rejected(p.url, 'KINDLING_FUNCTION_NOT_FOUND'), before + 2);
  });

  it('a chunked body (no Content-Length) is left to the router and still invokes', async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ name: 'chunked' }));
    const res = await fetch(`${p.url}/v1/functions/echo/invoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${p.adminKey}`, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(c) {
          c.enqueue(bytes.subarray(0, 5));
          c.enqueue(bytes.subarray(5));
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { event: unknown }).event, { name: 'chunked' });
  });
});

async function rejected(url: string, code: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`kindling_rejected_total\\{code="${code}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}
