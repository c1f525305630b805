import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { KindlingError } from '../../src/core/errors.js';
import { fixedKeepAlive } from '../../src/policy/keep-alive.js';
import { simulateKeepAlive, type SimWorkload } from '../../src/sim/keepalive-sim.js';
import { predictReplay } from '../../src/sim/replay-prediction.js';
import { traceWorkload } from '../../src/sim/workload.js';
import { readTraceDir } from '../../src/trace/load.js';
import { replayTrace } from '../../src/trace/replay.js';
import type { Trace } from '../../src/trace/trace.js';
import { runCli, startTestPlatform } from '../helpers/platform.js';

const TRACES = new URL('../../../../shared/data/traces/', import.meta.url).pathname;
const MIN = 60_000;

/** Cold starts per function under the fixed policy. */
function coldPerFunction(
  w: SimWorkload,
  keepAliveMs: number,
  coldStartMs: number,
  extraMs: number,
): number[] {
  const shifted = {
    ...w,
    functions: w.functions.map((f) => ({ ...f, durationMs: (i: number) => f.durationMs(i) + extraMs })),
  };
  return simulateKeepAlive(shifted, {
    policy: fixedKeepAlive(),
    configuredKeepAliveMs: keepAliveMs,
    coldStartMs,
  }).functions.map((f) => f.coldStarts);
}

describe('trace replay', () => {
  it('sends each invocation at its compressed time (virtual clock, no platform)', async () => {
    const clock = new ManualClock(0);
    const sent: [number, string][] = [];
    const fakeFetch = (async (url: string, init?: RequestInit) => {
      sent.push([clock.now(), `${url.split('/').at(-2)} ${String(init?.body)}`]);
      return new Response('{}', {
        status: 200,
        headers: { 'x-kindling-cold': sent.length === 1 ? '1' : '0' },
      });
    }) as unknown as typeof fetch;
    const trace: Trace = {
      format: 'azure2021',
      horizonMs: 120_000,
      functions: [
        { key: 'a/f', app: 'a', function: 'f', startsMs: [0, 60_000, 120_000], durationsMs: [6000, 600, 60] },
      ],
    };
    const done = replayTrace(
      { url: 'http://x', apiKey: 'k', trace, speedup: 60, clock, fetch: fakeFetch },
      { 'a/f': 'trace-0-f' },
    );
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(1000);
    }
    const r = await done;
    assert.deepEqual(sent, [
      [0, 'trace-0-f {"ms":100,"busy":false}'],
      [1000, 'trace-0-f {"ms":10,"busy":false}'],
      [2000, 'trace-0-f {"ms":1,"busy":false}'],
    ]);
    assert.equal(r.coldStarts, 1);
    assert.equal(r.errors, 0);
  });

  it('rejects a bad speedup with the value and the limit', async () => {
    const trace: Trace = {
      format: 'azure2021',
      horizonMs: 1,
      functions: [{ key: 'a/f', app: 'a', function: 'f', startsMs: [0] }],
    };
    await assert.rejects(
      replayTrace({ url: 'http://x', apiKey: 'k', trace, speedup: 0.5 }, {}),
      (e: unknown) =>
        KindlingError.is(e) && e.code === 'KINDLING_INVALID_CONFIG' && /≥ 1, got 0.5/.test(e.message),
    );
  });

  it('kindling replay validates its flags and the trace directory before touching the platform', () => {
    const dir = join(TRACES, 'azure2021-sample200');
    const env = { KINDLING_URL: 'http://127.0.0.1:9', KINDLING_API_KEY: 'k' };
    const speed = runCli(['replay', '--trace', dir, '--speedup', '0'], env);
    assert.equal(speed.status, 1);
    assert.match(speed.stderr, /invalid --speedup "0": use a number from 1 to/);
    const window = runCli(['replay', '--trace', dir, '--window', '30:10'], env);
    assert.equal(window.status, 1);
    assert.match(window.stderr, /invalid --window "30:10": use FROM:TO minutes of trace with FROM < TO/);
    const counts = runCli(['replay', '--trace', dir, '--invocations', 'many'], env);
    assert.equal(counts.status, 1);
    assert.match(counts.stderr, /invalid --invocations "many": use FROM:TO invocations per function/);
    const empty = runCli(['replay', '--trace', dir, '--invocations', '100000:'], env);
    assert.equal(empty.status, 1);
    assert.match(empty.stderr, /no trace function has invocations in that --window and --invocations range/);
    const missing = runCli(['replay', '--trace', '/nonexistent-trace-dir'], env);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /trace directory \/nonexistent-trace-dir does not exist/);
  });

  describe('azure2021-sample200 against the live platform', () => {
    let platform: Awaited<ReturnType<typeof startTestPlatform>>;
    before(async () => {
      platform = await startTestPlatform([]);
    });
    after(async () => {
      await platform.close();
    });

    it('produces the cold starts the simulator predicts for the same (scaled) fixed keep-alive', async (t) => {
      const trace = await readTraceDir(join(TRACES, 'azure2021-sample200'));
      // Keep-alive 7.5 minutes of trace time: the trace's periods are multiples of a minute and of
      // 5 minutes, so no idle time lies within ±20 s of it (10 minutes would sit right on the
      // 600 s period of several functions, where 40 ms of trace time decide).
      const keepAliveMs = 7.5 * MIN;
      const speedup = 60;
      // Only functions whose outcome does not depend on timing finer than the live platform
      // controls: per-function cold starts must be the same whether a cold start takes 0 or
      // 60 s of trace time (0–1 s real), executions run 5 s (83 ms real) longer, and the
      // keep-alive is 20 s (333 ms real) shorter or longer. The others are dropped (and counted).
      const w = traceWorkload(trace);
      const variants = [0, 30_000, 60_000].flatMap((cs) =>
        [0, 5000].flatMap((extra) =>
          [-20_000, 20_000].map((d) => coldPerFunction(w, keepAliveMs + d, cs, extra)),
        ),
      );
      const robust = trace.functions.filter((_, i) => variants.every((v) => v[i] === variants[0]![i]));
      assert.ok(
        robust.length >= trace.functions.length * 0.75,
        `${robust.length} of ${trace.functions.length} functions are timing-robust`,
      );
      const subset: Trace = { ...trace, functions: robust };
      const predicted = simulateKeepAlive(traceWorkload(subset), {
        policy: fixedKeepAlive(),
        configuredKeepAliveMs: keepAliveMs,
        coldStartMs: 0,
      }).coldStarts;
      // `kindling replay --policy fixed` prints the same prediction, made on the compressed timeline.
      assert.equal(
        predictReplay(subset, { speedup, keepAliveMs, policy: 'fixed', coldStartMs: 0 }).coldStarts,
        predicted,
      );

      const result = await replayTrace({
        url: platform.url,
        apiKey: platform.adminKey,
        trace: subset,
        speedup,
        keepAliveMs,
        keepAlivePolicy: 'fixed',
        memoryScale: 1 / 16,
      });
      t.diagnostic(
        `${robust.length}/${trace.functions.length} functions, ${result.invocations} invocations: replay ${result.coldStarts} cold, simulator ${predicted}`,
      );
      assert.equal(result.errors, 0, JSON.stringify(result.records.filter((r) => r.error).slice(0, 3)));
      assert.equal(
        result.invocations,
        robust.reduce((n, f) => n + f.startsMs.length, 0),
      );
      assert.ok(
        Math.abs(result.coldStarts - predicted) <= 0.1 * predicted,
        `replay had ${result.coldStarts} cold starts, the simulator predicts ${predicted}`,
      );
    });
  });
});
