/** The invoke path's series metrics print exactly as prom-client's own Counter and Histogram. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { SeriesCounter, SeriesHistogram } from '../../src/core/series-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
const VALUES = [0, 0.0005, 0.001, 0.002, 0.05, 0.1, 0.7, 3, 42];

describe('series metrics', () => {
  it('a histogram prints the same buckets, sum and count as prom-client for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new SeriesHistogram('t_seconds', 'help text', ['phase', 'cold'], BUCKETS, ours);
    const p = new Histogram({
      name: 't_seconds',
      help: 'help text',
      labelNames: ['phase', 'cold'],
      buckets: BUCKETS,
      registers: [theirs],
    });
    for (const [i, v] of VALUES.entries()) {
      const labels = { phase: i % 2 ? 'exec' : 'queue', cold: i % 3 ? '0' : '1' };
      h.labels(labels).observe(v);
      p.observe(labels, v);
    }
    const text = await ours.metrics();
    assert.equal(text, await theirs.metrics());
    assert.match(text, /t_seconds_bucket\{le="\+Inf",phase="queue",cold="1"\} \d/);
    assert.match(text, /t_seconds_count\{phase="exec",cold="0"\} \d/);
  });

  it('a counter prints the same series as prom-client, and series handed out keep counting', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const c = new SeriesCounter('t_total', 'help text', ['function', 'outcome'], ours);
    const p = new Counter({
      name: 't_total',
      help: 'help text',
      labelNames: ['function', 'outcome'],
      registers: [theirs],
    });
    const ok = c.labels({ function: 'a/b', outcome: 'ok' });
    for (let i = 0; i < 5; i++) {
      ok.inc();
      p.inc({ function: 'a/b', outcome: 'ok' });
    }
    c.labels({ function: 'a/b', outcome: 'error' }).inc(2);
    p.inc({ function: 'a/b', outcome: 'error' }, 2);
    assert.equal(c.labels({ function: 'a/b', outcome: 'ok' }), ok, 'one series per label set');
    assert.equal(await ours.metrics(), await theirs.metrics());
  });

  it('refuses values that are not finite numbers, as prom-client does', () => {
    const h = new SeriesHistogram('t_seconds', 'help', ['cold'], BUCKETS, new Registry());
    assert.throws(() => h.labels({ cold: '1' }).observe(Number.NaN), TypeError);
  });

  it('reset() drops every series', async () => {
    const registry = new Registry();
    const c = new SeriesCounter('t_total', 'help', ['cold'], registry);
    c.labels({ cold: '1' }).inc();
    registry.resetMetrics();
    assert.doesNotMatch(await registry.metrics(), /t_total\{/);
  });
});
