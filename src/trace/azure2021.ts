/**
 * Reader for the Azure Functions Invocation Trace 2021: one row per invocation,
 * `app,func,end_timestamp,duration`, both in seconds from the trace start. The start time is
 * `end_timestamp − duration`; it can be slightly negative for an invocation already running when
 * the trace began, and is kept as is rather than clipped so durations stay exact.
 */
import { KindlingError } from '../core/errors.js';
import type { CsvHeader } from './csv-lines.js';
import { checkWidth, numberField, parseHeader, readCsv, requireColumn, textField } from './csv-lines.js';
import type { DurationStats, Trace, TraceFunction } from './trace.js';

/** The percentiles reported for 2021 functions, the same set as the 2019 durations file. */
const PERCENTILES = [0, 1, 25, 50, 75, 99, 100];

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? 0;
}

/** Execution-time statistics of a non-empty list of durations in ms. */
export function durationStats(durationsMs: readonly number[]): DurationStats {
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const percentilesMs: Record<number, number> = {};
  for (const p of PERCENTILES) percentilesMs[p] = percentile(sorted, p);
  return {
    count: sorted.length,
    averageMs: sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length),
    minimumMs: sorted[0] ?? 0,
    maximumMs: sorted[sorted.length - 1] ?? 0,
    percentilesMs,
  };
}

/** Reads a 2021 invocations file into per-function sorted start times with aligned durations. */
export async function readAzure2021(file: string): Promise<Trace> {
  const byKey = new Map<string, { app: string; fn: string; calls: [start: number, duration: number][] }>();
  let header: CsvHeader | undefined;
  let cols = { app: 0, fn: 0, end: 0, duration: 0 };
  let horizonMs = 0;
  for await (const record of readCsv(file)) {
    if (!header) {
      header = parseHeader(file, record);
      const h = header;
      const col = (name: string) => requireColumn(file, h, name);
      cols = { app: col('app'), fn: col('func'), end: col('end_timestamp'), duration: col('duration') };
      continue;
    }
    checkWidth(file, header, record);
    const app = textField(file, header, record, cols.app);
    const fn = textField(file, header, record, cols.fn);
    const endMs = numberField(file, header, record, cols.end) * 1000;
    const durationMs = numberField(file, header, record, cols.duration) * 1000;
    const key = `${app}/${fn}`;
    let entry = byKey.get(key);
    if (!entry) byKey.set(key, (entry = { app, fn, calls: [] }));
    entry.calls.push([endMs - durationMs, durationMs]);
    horizonMs = Math.max(horizonMs, endMs);
  }
  if (!header) throw new KindlingError('KINDLING_BAD_REQUEST', `${file}: no header line`, { file });
  const functions: TraceFunction[] = [];
  for (const [key, { app, fn, calls }] of byKey) {
    calls.sort((a, b) => a[0] - b[0]);
    const durationsMs = calls.map((c) => c[1]);
    functions.push({
      key,
      function: fn,
      app,
      startsMs: calls.map((c) => c[0]),
      durationsMs,
      duration: durationStats(durationsMs),
    });
  }
  functions.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { format: 'azure2021', horizonMs, functions };
}
