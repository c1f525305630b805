import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { keepAliveScenario, type KeepAliveTraceResult } from '../../src/sim/scenarios/keepalive.js';
import { getScenario, scenarioNames } from '../../src/sim/scenarios/index.js';
import { runCli } from '../helpers/platform.js';

const TRACES = new URL('../../../../shared/data/traces/', import.meta.url).pathname;

describe('keepalive scenario', () => {
  it('is registered; an unknown scenario is an error that lists the known ones', () => {
    assert.ok(scenarioNames().includes('keepalive'));
    assert.equal(getScenario('keepalive'), keepAliveScenario);
    assert.throws(
      () => getScenario('faasnet-scale-typo'),
      (e: unknown) =>
        KindlingError.is(e) &&
        e.code === 'KINDLING_NOT_FOUND' &&
        /known scenarios: .*keepalive/.test(e.message),
    );
    const cli = runCli(['sim', 'nope']);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /unknown simulator scenario "nope"; known scenarios: .*keepalive/);
  });

  it("places a 2019 trace's minutes as --minute-arrivals says, in files of their own", async () => {
    const out = mkdtempSync(join(tmpdir(), 'kindling-sim-'));
    try {
      // One function invoked three times in minute 1: together, they need three instances.
      const dir = join(out, 'tiny2019');
      mkdirSync(dir);
      writeFileSync(
        join(dir, 'invocations.csv'),
        'HashFunction,HashApp,HashOwner,minute_1,minute_2,minute_3\nf,a,o,3,0,0\n',
      );
      const coldOf = (results: KeepAliveTraceResult[]) =>
        results[0]!.policies.find((p) => p.name === 'fixed-10m')!.coldStarts;
      const read = (file: string) =>
        JSON.parse(readFileSync(join(out, file), 'utf8')) as KeepAliveTraceResult[];
      await keepAliveScenario.run({ traces: [dir], outDir: out, say: () => {} });
      const spread = read('sim-keepalive.json');
      assert.equal(spread[0]!.minuteArrivals, 'spread');
      assert.equal(coldOf(spread), 1, 'spread over the minute, one instance serves all three');
      await keepAliveScenario.run({ traces: [dir], outDir: out, say: () => {}, minuteArrivals: 'start' });
      const start = read('sim-keepalive-arrivals-start.json');
      assert.equal(start[0]!.minuteArrivals, 'start');
      assert.equal(coldOf(start), 3, "at the minute's start, three at once");
      assert.equal(coldOf(read('sim-keepalive-arrivals-start-single-instance.json')), 1);
      assert.ok(existsSync(join(out, 'sim-keepalive-arrivals-start.svg')));
      assert.equal(coldOf(read('sim-keepalive.json')), 1, 'the default files are left as they were');
      // The 2021 trace has a timestamp per invocation: the model does not apply to it.
      await assert.rejects(
        keepAliveScenario.run({
          traces: [join(TRACES, 'azure2021-sample200')],
          outDir: out,
          say: () => {},
          minuteArrivals: 'random',
        }),
        /--minute-arrivals random applies to Azure 2019 traces/,
      );
      const cli = runCli(['sim', 'keepalive', '--minute-arrivals', 'middle', '--trace', dir, '--out', out]);
      assert.equal(cli.status, 1);
      assert.match(cli.stderr, /invalid --minute-arrivals: .*use one of spread, start, random/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('runs every policy setting on a trace and writes the results array and the Pareto plot', async () => {
    const out = mkdtempSync(join(tmpdir(), 'kindling-sim-'));
    try {
      await keepAliveScenario.run({
        traces: [join(TRACES, 'azure2021-sample200')],
        outDir: out,
        say: () => {},
      });
      const results = JSON.parse(
        readFileSync(join(out, 'sim-keepalive.json'), 'utf8'),
      ) as KeepAliveTraceResult[];
      assert.equal(results.length, 1);
      const r = results[0]!;
      assert.equal(r.trace, 'azure2021-sample200');
      assert.equal(r.invocations, 199);
      const names = r.policies.map((p) => p.name);
      for (const n of [
        'fixed-5m',
        'fixed-10m',
        'fixed-20m',
        'fixed-60m',
        'hybrid',
        'greedy-dual-2x-peak',
        'cost-window',
        'hybrid-refined',
      ])
        assert.ok(names.includes(n), n);
      for (const p of r.policies) {
        assert.ok(p.coldStartPct > 0 && p.coldStartPct <= 100, `${p.name} ${p.coldStartPct}`);
        assert.ok(p.p75FunctionColdStartPct >= 0 && p.p75FunctionColdStartPct <= 100);
        assert.ok(p.wastedMemGiBh >= 0);
      }
      // Longer fixed windows never cause more cold starts on the same trace.
      const pct = (n: string) => r.policies.find((p) => p.name === n)!.coldStartPct;
      assert.ok(pct('fixed-5m') >= pct('fixed-10m') && pct('fixed-10m') >= pct('fixed-60m'));
      const svg = readFileSync(join(out, 'sim-keepalive.svg'), 'utf8');
      assert.match(svg, /^<svg/);
      assert.equal((svg.match(/<circle cx/g) ?? []).length, r.policies.length + 4);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
