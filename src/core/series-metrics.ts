/**
 * Labelled counters and histograms for the invoke path, resolved to one series per label set once and
 * then updated with a few number writes. prom-client's own `labels(...).inc()` / `.observe()` validate
 * and hash the label set and allocate closures on every call; at thousands of invocations a second that
 * was measurable. These register in a prom-client `Registry` and implement the same `get()`, so
 * `/metrics` prints them exactly as prom-client's Counter and Histogram would.
 */
import type { Metric, Registry } from 'prom-client';

type Labels<L extends string> = Record<L, string>;

/** What `get()` returns, in the shape prom-client's registry formats. */
interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: {
    value: number;
    labels: Record<string, string | number>;
    sharedLabels?: Record<string, string>;
    metricName?: string;
  }[];
}

/** Shared parts: the series map, registration, reset. */
abstract class SeriesMetric<L extends string, S> {
  readonly aggregator = 'sum';
  abstract readonly type: Exported['type'];
  protected readonly series = new Map<string, { labels: Labels<L>; s: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    // The registry only calls get(), reset() and reads name/help/type/aggregator.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one label set, created on first use; keep it and update it directly. */
  labels(labels: Labels<L>): S {
    const key = this.labelNames.map((n) => labels[n]).join('\0');
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels: { ...labels }, s: this.create() };
      this.series.set(key, entry);
    }
    return entry.s;
  }

  /** Drops every series (prom-client's `registry.resetMetrics()`). Series handed out before stop counting. */
  reset(): void {
    this.series.clear();
  }

  protected abstract create(): S;

  /** What the registry reads: this metric with `values`. */
  protected exported(values: Exported['values']): Promise<Exported> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }
}

/** One counter series. */
export class CounterSeries {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

/** A labelled counter (Prometheus type `counter`). */
export class SeriesCounter<L extends string> extends SeriesMetric<L, CounterSeries> {
  readonly type = 'counter';

  protected create(): CounterSeries {
    return new CounterSeries();
  }

  get(): Promise<Exported> {
    const values = [...this.series.values()].map(({ labels, s }) => ({ labels, value: s.value }));
    return this.exported(values);
  }
}

/** One histogram series: per-bucket counts (not cumulative), sum and count. */
export class HistogramSeries {
  sum = 0;
  count = 0;
  /** counts[i] is the observations in (bounds[i-1], bounds[i]]; the last slot is above every bound. */
  readonly counts: Float64Array;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`value is not a finite number: ${value}`);
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/** A labelled histogram (Prometheus type `histogram`) with fixed bucket bounds. */
export class SeriesHistogram<L extends string> extends SeriesMetric<L, HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
    this.bounds = [...buckets].sort((a, b) => a - b);
  }

  protected create(): HistogramSeries {
    return new HistogramSeries(this.bounds);
  }

  get(): Promise<Exported> {
    const values: Exported['values'] = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, s } of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({
          labels: { le: this.bounds[i]! },
          sharedLabels: labels,
          value: acc,
          metricName: bucket,
        });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: labels, value: s.count, metricName: bucket });
      values.push({ labels: {}, sharedLabels: labels, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: labels, value: s.count, metricName: `${this.name}_count` });
    }
    return this.exported(values);
  }
}
