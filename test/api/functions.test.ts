/** Versions, aliases, async invocations, HTTP triggers, concurrency limits and tenants, end to end. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { example, fixture, startTestPlatform, tempDir } from '../helpers/platform.js';

type P = Awaited<ReturnType<typeof startTestPlatform>>;

describe('functions, versions, aliases and triggers', () => {
  let p: P;
  before(async () => {
    p = await startTestPlatform([fixture('echo'), fixture('sleeper'), example('http-api')]);
  });
  after(async () => p.close());

  it('every deploy makes a version; aliases pin one; invocations pick by qualifier', async () => {
    const v1 = p.functions.resolve('default', 'echo');
    const v2 = await p.deployer.deployImage('default', 'echo', v1.imageDigest, { env: { GREETING: 'v2' } });
    assert.equal(v2.version, 2);
    const set = await p.call('PUT', '/v1/functions/echo/aliases/prod', { version: 1 });
    assert.equal(set.status, 200);
    assert.equal((await p.call('POST', '/v1/functions/echo/invoke?qualifier=prod', {})).body.greeting, 'hi');
    assert.equal((await p.call('POST', '/v1/functions/echo/invoke', {})).body.greeting, 'v2');
    assert.equal((await p.call('POST', '/v1/functions/echo/invoke?qualifier=1', {})).body.functionVersion, 1);
    const fn = await p.call('GET', '/v1/functions/echo');
    assert.deepEqual(fn.body.aliases, { latest: 2, prod: 1 });
    const versions = await p.call('GET', '/v1/functions/echo/versions');
    assert.deepEqual(
      versions.body.versions.map((v: { version: number }) => v.version),
      [2, 1],
    );
    const latest = await p.call('PUT', '/v1/functions/echo/aliases/latest', { version: 1 });
    assert.equal(latest.status, 400);
    const list = await p.call('GET', '/v1/functions/echo/invocations?limit=2');
    assert.equal(list.body.invocations.length, 2);
    const stats = await p.call('GET', '/v1/functions/echo/stats');
    assert.ok(stats.body.cold >= 2, 'each version had its own cold start');
  });

  it('runs async invocations from the durable queue', async () => {
    const accepted = await p.call('POST', '/v1/functions/sleeper/invoke?mode=async', {
      ms: 50,
      tag: 'async',
    });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.headers.get('location'), `/v1/invocations/${accepted.body.id}`);
    let record;
    for (;;) {
      record = await p.call('GET', `/v1/invocations/${accepted.body.id}`);
      if (record.body.status === 'succeeded' || record.body.status === 'failed') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(record.body.status, 'succeeded');
    assert.deepEqual(record.body.result, { slept: 50, tag: 'async' });
    assert.equal(record.body.mode, 'async');
    assert.ok(record.body.phases.exec >= 50);
    assert.ok(
      record.body.phases.queue > 0,
      'the queue phase runs from the request, through the durable queue',
    );
  });

  it('refuses with 429 beyond maxInstances plus the queue bound, and serves the rest', async () => {
    const v = p.functions.resolve('default', 'sleeper');
    await p.deployer.deployImage('default', 'sleeper', v.imageDigest, {
      maxInstances: 1,
      maxQueue: 1,
      timeoutMs: 20000,
    });
    const results = await Promise.all(
      [0, 1, 2].map((i) => p.call('POST', '/v1/functions/sleeper/invoke', { ms: 300, tag: i })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 429]);
    const refused = results.find((r) => r.status === 429)!;
    assert.equal(refused.body.error.code, 'KINDLING_TOO_MANY_REQUESTS');
    assert.match(refused.body.error.message, /maxInstances/);
  });

  it('HTTP triggers hand the function a request and map its response', async () => {
    const get = await p.call('GET', '/fn/http-api/hello/kindling?x=1');
    assert.equal(get.status, 200);
    assert.match(get.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(get.body, { message: 'hello, kindling', query: { x: '1' } });
    assert.ok(get.headers.get('server-timing')?.includes('exec;dur='));
    const echo = await fetch(`${p.url}/fn/http-api/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${p.adminKey}`, 'content-type': 'text/plain' },
      body: 'plain text body',
    });
    assert.equal(echo.status, 200);
    assert.equal(await echo.text(), 'plain text body');
    // Binary bodies travel base64 with isBase64Encoded, both ways: the bytes come back unchanged.
    const bytes = Buffer.from([0x00, 0x01, 0xff, 0xfe, 0x80]);
    const binary = await fetch(`${p.url}/fn/http-api/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${p.adminKey}`, 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(binary.status, 200);
    assert.equal(binary.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(Buffer.from(await binary.arrayBuffer()), bytes);
    // Without a content type the body is taken as bytes, so binary survives too.
    const untyped = await fetch(`${p.url}/fn/http-api/echo`, {
      method: 'POST',
      headers: { authorization: `Bearer ${p.adminKey}` },
      body: bytes,
    });
    assert.equal(untyped.status, 200);
    assert.deepEqual(Buffer.from(await untyped.arrayBuffer()), bytes);
    const missing = await p.call('GET', '/fn/http-api/nowhere');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('x-kindling-cold'), '0');
  });

  it("sends repeated headers and cookies, and refuses a response HTTP cannot carry as the function's error", async () => {
    const dir = tempDir('kindling-responder-');
    writeFileSync(
      join(dir, 'index.js'),
      `const shapes = {
  '/multi': { statusCode: 201, headers: { 'x-multi': ['1', '2'], 'x-n': 3 }, cookies: ['a=1; Path=/', 'b=2'], body: 'ok' },
  '/bad-name': { statusCode: 200, headers: { 'bad header': 'v' }, body: 'x' },
  '/crlf': { statusCode: 200, headers: { 'x-split': 'a\\r\\nset-cookie: evil=1' }, body: 'x' },
  '/status': { statusCode: 700, body: 'x' },
  '/interim': { statusCode: 103, body: 'x' },
  '/framing': { statusCode: 200, headers: { 'transfer-encoding': 'chunked', Connection: 'upgrade', 'content-length': '1' }, body: 'framed' },
};
exports.handler = async (event) => shapes[event.path];
`,
    );
    writeFileSync(join(dir, 'kindling.json'), JSON.stringify({ name: 'responder' }));
    await p.deployer.deployDirectory('default', dir);
    const multi = await fetch(`${p.url}/fn/responder/multi`, {
      headers: { authorization: `Bearer ${p.adminKey}` },
    });
    assert.equal(multi.status, 201);
    assert.equal(multi.headers.get('x-multi'), '1, 2');
    assert.equal(multi.headers.get('x-n'), '3');
    assert.deepEqual(multi.headers.getSetCookie(), ['a=1; Path=/', 'b=2']);
    assert.equal(await multi.text(), 'ok');
    // Framing and connection headers are the server's: the function's are dropped.
    const framed = await fetch(`${p.url}/fn/responder/framing`, {
      headers: { authorization: `Bearer ${p.adminKey}` },
    });
    assert.equal(framed.status, 200);
    assert.equal(framed.headers.get('transfer-encoding'), null);
    assert.equal(framed.headers.get('content-length'), '6');
    assert.equal(await framed.text(), 'framed');
    for (const [path, says] of [
      ['/bad-name', /header name "bad header" is not a valid HTTP header name/],
      ['/crlf', /header "x-split" has a value with a character HTTP headers cannot carry \(a line break/],
      ['/status', /statusCode 700 is not a final HTTP status \(a whole number from 200 to 599\)/],
      ['/interim', /statusCode 103 is not a final HTTP status/],
    ] as const) {
      const res = await p.call('GET', `/fn/responder${path}`);
      assert.equal(res.status, 502, `${path}: ${res.text}`);
      assert.equal(res.body.error.code, 'KINDLING_INVALID_RESPONSE', path);
      assert.match(res.body.error.message, /^the function's HTTP response cannot be sent: /);
      assert.match(res.body.error.message, says);
      assert.equal(res.headers.get('set-cookie'), null, 'nothing of the response was sent');
      const record = await p.call('GET', `/v1/invocations/${res.headers.get('x-kindling-invocation-id')}`);
      assert.equal(record.body.status, 'failed', path);
      assert.equal(record.body.error.code, 'KINDLING_INVALID_RESPONSE', path);
    }
    // Counted as failures in the metrics too.
    const metrics = await fetch(`${p.url}/metrics`).then((r) => r.text());
    assert.match(
      metrics,
      /^kindling_invocation_errors_total\{function="default\/responder",code="KINDLING_INVALID_RESPONSE"\} 4$/m,
    );
  });

  it("limits a public URL's request rate when asked, with Retry-After, and not the keyed route", async () => {
    const image = (await p.deployer.deployDirectory('default', fixture('echo'), 'echo-limited')).version
      .imageDigest;
    await p.deployer.deployImage('default', 'echo-limited', image, { public: true, publicRateLimit: 1 });
    // One request per second with a burst of one: the second, sent at once, waits its turn.
    const first = await fetch(`${p.url}/pub/default/echo-limited/`);
    assert.equal(first.status, 200);
    const second = await fetch(`${p.url}/pub/default/echo-limited/`);
    assert.equal(second.status, 429);
    assert.equal(second.headers.get('retry-after'), '1');
    const { error } = (await second.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'KINDLING_TOO_MANY_REQUESTS');
    assert.equal(error.message, 'this URL takes at most 1 request per second; retry after 1 s');
    assert.equal((await p.call('GET', '/fn/echo-limited/')).status, 200, 'the keyed route is not limited');
    const bad = await p.deployer
      .deployImage('default', 'echo-limited', image, { public: true, publicRateLimit: 0 })
      .catch((err: Error) => err.message);
    assert.match(String(bad), /publicRateLimit must be a positive number, got 0/);
  });

  it('a public function answers anyone at /pub/{tenant}/{name}/, with every header the caller sent', async () => {
    // Pushed under its own name (a private first version), then deployed again as public.
    const image = (await p.deployer.deployDirectory('default', fixture('echo'), 'echo-pub')).version
      .imageDigest;
    await p.deployer.deployImage('default', 'echo-pub', image, { public: true });
    const res = await fetch(`${p.url}/pub/default/echo-pub/orders/7?tenant=x&q=1`, {
      headers: { authorization: 'Bearer the-apps-own-token', cookie: 'session=abc' },
    });
    assert.equal(res.status, 200);
    const { event } = (await res.json()) as {
      event: { path: string; headers: Record<string, string>; query: unknown };
    };
    assert.equal(event.path, '/orders/7');
    // No platform key is taken from the request, so the function gets its caller's credentials.
    assert.equal(event.headers.authorization, 'Bearer the-apps-own-token');
    assert.equal(event.headers.cookie, 'session=abc');
    assert.deepEqual(event.query, { tenant: 'x', q: '1' });
    assert.ok(res.headers.get('x-kindling-invocation-id'));
    for (const internal of ['x-kindling-instance', 'x-kindling-tier', 'x-kindling-version', 'server-timing'])
      assert.equal(res.headers.get(internal), null, internal);
    // A private function, a missing one and a missing tenant look alike to an anonymous caller.
    const answers = await Promise.all(
      [
        '/pub/default/echo/',
        '/pub/default/nothing-here/',
        '/pub/nobody/echo-pub/',
        '/pub/default/Bad_Name/',
      ].map(async (path) => {
        const r = await fetch(p.url + path);
        return {
          path,
          status: r.status,
          body: (await r.json()) as { error: { code: string; message: string } },
        };
      }),
    );
    for (const a of answers) {
      assert.equal(a.status, 404, a.path);
      assert.equal(a.body.error.code, 'KINDLING_FUNCTION_NOT_FOUND', a.path);
      assert.match(a.body.error.message, /^no public function .*"public": true/, a.path);
    }
    // A failure tells an anonymous caller its kind and the invocation, not the stack or the runtime.
    const throwsImage = (await p.deployer.deployDirectory('default', fixture('throws'), 'throws-pub')).version
      .imageDigest;
    await p.deployer.deployImage('default', 'throws-pub', throwsImage, { public: true });
    const failed = await fetch(`${p.url}/pub/default/throws-pub/`);
    assert.equal(failed.status, 500);
    const failedBody = (await failed.json()) as { error: Record<string, unknown>; invocationId: string };
    assert.deepEqual(Object.keys(failedBody.error), ['code', 'message']);
    assert.equal(failedBody.error.code, 'KINDLING_HANDLER_ERROR');
    assert.equal(
      failedBody.error.message,
      `the function failed (KINDLING_HANDLER_ERROR); its owner can look up invocation ${failedBody.invocationId}`,
    );
    assert.equal(failed.headers.get('x-kindling-error'), null);
    // Its owner sees the whole failure under that id.
    const record = await p.call('GET', `/v1/invocations/${failedBody.invocationId}`);
    assert.match(record.body.error.details.stack, /at handler \(throws-pub\/index\.mjs:2:9\)/);
    // A new version that is not public closes the route again.
    await p.deployer.deployImage('default', 'echo-pub', image, {});
    assert.equal((await fetch(`${p.url}/pub/default/echo-pub/`)).status, 404);
    // The keyed trigger still withholds the platform's credentials.
    const keyed = await p.call('GET', '/fn/echo-pub/x');
    assert.equal(
      (keyed.body as { event: { headers: Record<string, string> } }).event.headers.authorization,
      undefined,
    );
  });

  it('one tenant never sees or calls another tenant’s functions, invocations or images', async () => {
    const created = await p.call('POST', '/v1/tenants', { name: 'globex' });
    assert.equal(created.status, 201);
    const key = created.body.apiKey as string;
    const mine = await p.call('POST', '/v1/functions/echo/invoke', {});
    const id = mine.headers.get('x-kindling-invocation-id');
    assert.deepEqual((await p.call('GET', '/v1/functions', undefined, key)).body.functions, []);
    assert.equal((await p.call('POST', '/v1/functions/echo/invoke', {}, key)).status, 404);
    assert.equal((await p.call('GET', `/v1/invocations/${id}`, undefined, key)).status, 404);
    assert.equal((await p.call('GET', '/fn/http-api/', undefined, key)).status, 404);
    assert.equal((await p.call('GET', '/v1/functions/echo?tenant=default', undefined, key)).status, 403);
    assert.equal((await p.call('GET', '/v1/tenants', undefined, key)).status, 403);
    const digest = p.functions.resolve('default', 'echo').imageDigest;
    assert.equal((await p.call('GET', `/v2/default/echo/manifests/${digest}`, undefined, key)).status, 403);
    // The same name in the other tenant is a different function.
    await p.deployer.deployDirectory('globex', fixture('echo'));
    const theirs = await p.call('POST', '/v1/functions/echo/invoke', { who: 'globex' }, key);
    assert.equal(theirs.status, 200);
    assert.deepEqual(theirs.body.event, { who: 'globex' });
    assert.notEqual(theirs.headers.get('x-kindling-instance'), mine.headers.get('x-kindling-instance'));
    // The admin sees every tenant's functions when asking for all.
    const all = await p.call('GET', '/v1/functions?all=1');
    assert.ok(all.body.functions.some((f: { tenant: string }) => f.tenant === 'globex'));
  });

  it('deleting a function stops its instances and forgets it', async () => {
    await p.call('POST', '/v1/functions/echo/invoke', {});
    const del = await p.call('DELETE', '/v1/functions/echo');
    assert.equal(del.status, 204);
    assert.equal((await p.call('POST', '/v1/functions/echo/invoke', {})).status, 404);
    assert.equal((await p.call('GET', '/v1/functions/echo')).status, 404);
  });
});
