import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
