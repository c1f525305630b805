/** End to end through the real gateway, real SQLite, real images and real process sandboxes. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PHASES } from '../../src/core/phases.js';
import { fixture, startTestPlatform } from '../helpers/platform.js';

type P = Awaited<ReturnType<typeof startTestPlatform>>;

function timing(header: string | null): Record<string, number> {
  return Object.fromEntries(
    (header ?? '').split(', ').map((p) => [p.split(';')[0], parseFloat(p.split('dur=')[1] ?? '')]),
  );
}

describe('invoking functions end to end', () => {
  let p: P;
  before(async () => {
    process.env.KINDLING_TEST_SECRET = 'the-platform-secret';
    p = await startTestPlatform(
      ['echo', 'throws', 'hang', 'memhog', 'exits', 'noisy', 'init-fails', 'env'].map(fixture),
    );
  });
  after(async () => {
    await p.close();
    delete process.env.KINDLING_TEST_SECRET;
  });

  it('the first invocation is cold with every phase filled in, the second is warm', async () => {
    const first = await p.call('POST', '/v1/functions/echo/invoke', { name: 'you' });
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-kindling-cold'), '1');
    const t1 = timing(first.headers.get('server-timing'));
    for (const phase of PHASES)
      assert.ok(t1[phase]! > 0, `cold phase ${phase} is filled in: ${first.headers.get('server-timing')}`);
    assert.ok(t1.total! >= t1.exec!);
    assert.deepEqual(first.body.event, { name: 'you' });
    assert.equal(
      first.body.requestId,
      first.headers.get('x-kindling-invocation-id'),
      'context.requestId is the invocation id',
    );
    assert.equal(first.body.functionName, 'echo');
    assert.equal(first.body.functionVersion, 1);
    assert.equal(first.body.greeting, 'hi', 'configured environment variables are visible');
    assert.ok(first.body.remaining > 0 && first.body.remaining <= 5000);

    const second = await p.call('POST', '/v1/functions/echo/invoke', { name: 'again' });
    assert.equal(second.status, 200);
    assert.equal(second.headers.get('x-kindling-cold'), '0');
    assert.equal(second.headers.get('x-kindling-instance'), first.headers.get('x-kindling-instance'));
    const t2 = timing(second.headers.get('server-timing'));
    for (const phase of ['fetch', 'sandbox', 'runtime', 'init'])
      assert.equal(t2[phase], 0, `warm has no ${phase} phase`);
    assert.ok(t2.exec! > 0);

    const record = await p.call('GET', `/v1/invocations/${first.headers.get('x-kindling-invocation-id')}`);
    assert.equal(record.status, 200);
    assert.equal(record.body.status, 'succeeded');
    assert.equal(record.body.cold, true);
    assert.equal(record.body.tier, 'process');
    assert.equal(record.body.startPath, 'plain');
    assert.ok(
      record.body.fetch.bytesFromSource > 0,
      'the first cold start fetched the image from the registry',
    );
    assert.deepEqual(Object.keys(record.body.phases), [...PHASES]);
    assert.ok(
      record.body.logs.some((l: { msg: string }) => l.msg.includes('echoing')),
      'console output is captured per invocation',
    );
  });

  it('answers bad input with a clear 4xx and loses nothing', async () => {
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/v1/functions/echo/invoke', '{"name": ', 400, 'KINDLING_INVALID_JSON'],
      ['POST', '/v1/functions/nope/invoke', {}, 404, 'KINDLING_FUNCTION_NOT_FOUND'],
      ['POST', '/v1/functions/Bad_Name!/invoke', {}, 400, 'KINDLING_INVALID_NAME'],
      ['POST', '/v1/functions/echo/invoke?mode=later', {}, 400, 'KINDLING_BAD_REQUEST'],
      ['POST', '/v1/functions/echo/invoke?qualifier=prod', {}, 404, 'KINDLING_ALIAS_NOT_FOUND'],
      ['POST', '/v1/functions/echo/invoke?qualifier=9', {}, 404, 'KINDLING_VERSION_NOT_FOUND'],
      ['POST', '/v1/functions/echo/versions', { digest: 'nope' }, 400, 'KINDLING_BAD_REQUEST'],
      ['PUT', '/v1/functions/echo/aliases/prod', { version: 'one' }, 400, 'KINDLING_BAD_REQUEST'],
      ['GET', '/v1/invocations/does-not-exist', undefined, 404, 'KINDLING_INVOCATION_NOT_FOUND'],
      ['GET', '/v1/nothing-here', undefined, 404, 'KINDLING_NOT_FOUND'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await p.call(method, path, body);
      assert.equal(res.status, status, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.error.code, code, `${method} ${path}`);
      assert.ok(res.body.error.message.length > 10, 'the message says what is wrong');
    }
    const big = await p.call(
      'POST',
      '/v1/functions/echo/invoke',
      JSON.stringify({ blob: 'x'.repeat(7 * 1024 * 1024) }),
    );
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'KINDLING_PAYLOAD_TOO_LARGE');
    assert.match(big.body.error.message, /6 MiB/);
    const noKey = await p.call('POST', '/v1/functions/echo/invoke', {}, '');
    assert.equal(noKey.status, 401);
    assert.match(noKey.body.error.message, /Authorization: Bearer/);
    const badKey = await p.call('POST', '/v1/functions/echo/invoke', {}, 'kdl_wrong');
    assert.equal(badKey.status, 401);
    const ok = await p.call('POST', '/v1/functions/echo/invoke', { still: 'fine' });
    assert.equal(ok.status, 200);
  });

  it('a throwing handler gives 500 with its message, and the instance keeps serving', async () => {
    const res = await p.call('POST', '/v1/functions/throws/invoke', {});
    assert.equal(res.status, 500);
    assert.equal(res.body.error.code, 'KINDLING_HANDLER_ERROR');
    assert.match(res.body.error.message, /failed on purpose/);
    assert.equal(res.body.error.details.errorType, 'TypeError');
    const again = await p.call('POST', '/v1/functions/throws/invoke', {});
    assert.equal(again.headers.get('x-kindling-cold'), '0', 'a thrown error does not cost the instance');
  });

  it('a handler that hangs past its timeout gets 504, its instance is replaced', async () => {
    const res = await p.call('POST', '/v1/functions/hang/invoke', { spin: true });
    assert.equal(res.status, 504);
    assert.equal(res.body.error.code, 'KINDLING_TIMEOUT');
    assert.match(res.body.error.message, /500 ms/);
    const next = await p.call('POST', '/v1/functions/hang/invoke', {});
    assert.equal(next.status, 200);
    assert.equal(next.headers.get('x-kindling-cold'), '1', 'the hung instance was killed; a new one serves');
  });

  it('a function that allocates past its memory limit gets a clear error (heap and off-heap)', async () => {
    for (const event of [{}, { offHeap: true }]) {
      const res = await p.call('POST', '/v1/functions/memhog/invoke', event);
      assert.equal(res.status, 502, res.text);
      assert.equal(res.body.error.code, 'KINDLING_MEMORY_LIMIT');
      assert.match(res.body.error.message, /96 MiB/);
    }
  });

  it('process.exit inside a handler is reported and the platform carries on', async () => {
    const res = await p.call('POST', '/v1/functions/exits/invoke', {});
    assert.equal(res.status, 502);
    assert.equal(res.body.error.code, 'KINDLING_INSTANCE_CRASHED');
    assert.match(res.body.error.message, /3/);
    const echo = await p.call('POST', '/v1/functions/echo/invoke', {});
    assert.equal(echo.status, 200);
  });

  it('100 MB of output is capped and counted, through console and raw stdout', async () => {
    for (const event of [{}, { raw: true }]) {
      const res = await p.call('POST', '/v1/functions/noisy/invoke', event);
      assert.equal(res.status, 200, res.text);
      const record = await p.call('GET', `/v1/invocations/${res.headers.get('x-kindling-invocation-id')}`);
      const kept = record.body.logs.reduce((n: number, l: { msg: string }) => n + l.msg.length, 0);
      assert.ok(kept <= 64 * 1024 + 1024, `kept ${kept} bytes of logs`);
      assert.ok(record.body.logsDroppedBytes > 90 * 1024 * 1024, `dropped ${record.body.logsDroppedBytes}`);
    }
  });

  it('top-level code that throws fails the cold start with its message', async () => {
    const res = await p.call('POST', '/v1/functions/init-fails/invoke', {});
    assert.equal(res.status, 502);
    assert.equal(res.body.error.code, 'KINDLING_INIT_FAILED');
    assert.match(res.body.error.message, /top-level code failed/);
  });

  it("a function cannot see the platform's environment", async () => {
    const res = await p.call('POST', '/v1/functions/env-reader/invoke', {});
    assert.equal(res.status, 200);
    assert.equal(res.body.secret, null);
    assert.ok(!res.body.keys.some((k: string) => k.startsWith('KINDLING_')), res.body.keys.join(','));
  });

  it('exposes Prometheus metrics', async () => {
    const res = await fetch(`${p.url}/metrics`);
    const text = await res.text();
    assert.match(
      text,
      /kindling_invocations_total\{function="default\/echo",tier="process",cold="1",outcome="ok"\} \d/,
    );
    assert.match(text, /kindling_phase_seconds_bucket\{le="[^"]+",phase="init",cold="1"\}/);
    assert.match(
      text,
      /kindling_cold_starts_total\{function="default\/echo",tier="process",start_path="plain"\} \d/,
    );
    assert.match(text, /kindling_instances\{tier="process",state="idle"\}/);
  });
});

describe('stem cells through the platform', () => {
  it('a cold start specialises a ready stem cell: no sandbox phase, and the record says so', async () => {
    const p = await startTestPlatform([fixture('echo')], undefined, 1);
    try {
      // Wait (bounded) until the pool reports its 128 MiB cell ready.
      for (let i = 0; i < 500; i++) {
        const text = await (await fetch(`${p.url}/metrics`)).text();
        if (/kindling_stem_cells\{memory_mb="128",state="ready"\} 1/.test(text)) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const res = await p.call('POST', '/v1/functions/echo/invoke', { via: 'stem' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('x-kindling-cold'), '1');
      assert.equal(res.headers.get('x-kindling-start-path'), 'stem-cell');
      const t = timing(res.headers.get('server-timing'));
      assert.equal(t.sandbox, 0, 'the process existed before the request');
      assert.match(res.headers.get('server-timing') ?? '', /sandbox;dur=0;desc="stem-cell"/);
      assert.ok(t.init! > 0 && t.exec! > 0);
      assert.equal(res.body.greeting, 'hi', "the function's environment was applied at specialisation");
      const record = await p.call('GET', `/v1/invocations/${res.headers.get('x-kindling-invocation-id')}`);
      assert.equal(record.body.startPath, 'stem-cell');
    } finally {
      await p.close();
    }
  });
});
