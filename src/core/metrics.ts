/**
 * Prometheus metrics (prom-client), one registry per platform so several platforms can live in one
 * process (tests) without sharing counters.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { PHASES, type Phases } from './phases.js';
import {
  SeriesCounter,
  SeriesHistogram,
  type CounterSeries,
  type HistogramSeries,
} from './series-metrics.js';

/** Instance states the pools report. */
export type InstanceState = 'starting' | 'idle' | 'busy' | 'evicting';

export interface Metrics {
  readonly registry: Registry;
  /** Counts one finished invocation and observes its phases. */
  observeInvocation(
    labels: { fn: string; tier: string; cold: boolean; ok: boolean; errorCode?: string; startPath?: string },
    phases: Phases,
    totalMs: number,
  ): void;
  /** Sets where instance counts come from (read at scrape time). */
  setInstanceSource(source: () => { tier: string; state: InstanceState; count: number }[]): void;
  /** Counts one rejected request (4xx/429 before execution). */
  observeRejected(code: string): void;
  /** Sets where idle stem-cell counts come from (read at scrape time). */
  setStemCellSource(source: () => Record<number, { ready: number; booting: number }>): void;
}

const EXEC_INDEX = PHASES.indexOf('exec');

export function createMetrics(): Metrics {
  const registry = new Registry();
  // The per-invocation series are SeriesCounter/SeriesHistogram (updated with a few number writes);
  // the rarer ones stay prom-client's own.
  const invocations = new SeriesCounter(
    'kindling_invocations_total',
    'Finished invocations, by function, tier, cold or warm, and outcome.',
    ['function', 'tier', 'cold', 'outcome'],
    registry,
  );
  const errors = new Counter({
    name: 'kindling_invocation_errors_total',
    help: 'Failed invocations by error code.',
    labelNames: ['function', 'code'] as const,
    registers: [registry],
  });
  const coldStarts = new Counter({
    name: 'kindling_cold_starts_total',
    help: 'Invocations that had to start a new instance, by tier and start path (plain, stem-cell, snapshot, prepared).',
    labelNames: ['function', 'tier', 'start_path'] as const,
    registers: [registry],
  });
  const phaseSeconds = new SeriesHistogram(
    'kindling_phase_seconds',
    'Time spent in each cold-start phase (queue, place, fetch, sandbox, runtime, init, exec).',
    ['phase', 'cold'],
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registry,
  );
  const totalSeconds = new SeriesHistogram(
    'kindling_invocation_seconds',
    'Total invocation time seen by the platform.',
    ['cold'],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registry,
  );
  const rejected = new Counter({
    name: 'kindling_rejected_total',
    help: 'Requests refused before execution, by error code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const seriesCache = new Map<
    string,
    {
      invocations: CounterSeries;
      coldStarts: { inc(): void };
      phases: HistogramSeries[];
      total: HistogramSeries;
    }
  >();
  let instanceSource: () => { tier: string; state: InstanceState; count: number }[] = () => [];
  new Gauge({
    name: 'kindling_instances',
    help: 'Sandbox instances by tier and state.',
    labelNames: ['tier', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of instanceSource()) this.set({ tier: s.tier, state: s.state }, s.count);
    },
  });

  let stemCellSource: () => Record<number, { ready: number; booting: number }> = () => ({});
  new Gauge({
    name: 'kindling_stem_cells',
    help: 'Idle process-tier stem cells by memory size and state (ready or booting).',
    labelNames: ['memory_mb', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [mb, c] of Object.entries(stemCellSource())) {
        this.set({ memory_mb: mb, state: 'ready' }, c.ready);
        this.set({ memory_mb: mb, state: 'booting' }, c.booting);
      }
    },
  });

  return {
    registry,
    setStemCellSource(source) {
      stemCellSource = source;
    },
    observeInvocation(labels, phases, totalMs) {
      const cold = labels.cold ? '1' : '0';
      const key = `${labels.fn}\0${labels.tier}\0${cold}\0${labels.ok ? 1 : 0}\0${labels.startPath ?? ''}`;
      let series = seriesCache.get(key);
      if (!series) {
        // Resolving labelled children once per label set keeps label hashing off the per-invocation path.
        series = {
          invocations: invocations.labels({
            function: labels.fn,
            tier: labels.tier,
            cold,
            outcome: labels.ok ? 'ok' : 'error',
          }),
          coldStarts: coldStarts.labels({
            function: labels.fn,
            tier: labels.tier,
            start_path: labels.startPath ?? 'plain',
          }),
          phases: PHASES.map((p) => phaseSeconds.labels({ phase: p, cold })),
          total: totalSeconds.labels({ cold }),
        };
        if (seriesCache.size > 10_000) seriesCache.clear();
        seriesCache.set(key, series);
      }
      series.invocations.inc();
      if (labels.cold) series.coldStarts.inc();
      if (!labels.ok) errors.inc({ function: labels.fn, code: labels.errorCode ?? 'unknown' });
      for (let i = 0; i < PHASES.length; i++) {
        const v = phases[PHASES[i]!];
        // A warm invocation has no fetch/sandbox/runtime/init: observing its zeros would only skew them.
        if (v > 0 || i === EXEC_INDEX) series.phases[i]!.observe(v / 1000);
      }
      series.total.observe(totalMs / 1000);
    },
    setInstanceSource(source) {
      instanceSource = source;
    },
    observeRejected(code) {
      rejected.inc({ code });
    },
  };
}
