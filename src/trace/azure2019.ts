/**
 * Reader for the Azure Functions Trace 2019 (Shahrad et al., "Serverless in the Wild", ATC'20).
 *
 * - invocations: invocation count per function per minute, one row per function and day. Both the
 *   official column order (`HashOwner,HashApp,HashFunction,Trigger,1..1440`) and the InVitro
 *   re-sampled one (`HashFunction,HashApp,HashOwner,minute_1..minute_1440`) are accepted: columns
 *   are found by name, not position.
 * - durations: execution-time statistics per function (ms, cold-start time excluded).
 * - memory: allocated-memory statistics per application (MiB).
 *
 * Files are streamed line by line; only the expanded start times are kept.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KindlingError } from '../core/errors.js';
import { hash32 } from '../core/hash32.js';
import type { CsvHeader } from './csv-lines.js';
import {
  checkWidth,
  csvError,
  numberField,
  parseHeader,
  readCsv,
  requireColumn,
  textField,
} from './csv-lines.js';
import type { DurationStats, Trace, TraceFunction } from './trace.js';

/** Length of one bin of the 2019 trace. */
export const MINUTE_MS = 60_000;

/** One row of an invocations file, before expansion into start times. */
export interface Azure2019Row {
  owner: string;
  app: string;
  function: string;
  trigger?: string;
  /** Invocations in minute 1, 2, … of the day. */
  counts: number[];
}

/** Options for {@link readAzure2019Invocations}. */
export interface Azure2019InvocationOptions {
  /** Added to every start time, to place day N of a multi-day trace after day N−1. Default 0. */
  dayOffsetMs?: number;
  /** Keeps only the rows for which this returns true (applied before expansion, to bound memory). */
  filter?: (row: Azure2019Row) => boolean;
  /** Where in its minute each invocation is placed ({@link MinuteArrivals}). Default `spread`. */
  minuteArrivals?: MinuteArrivals;
}

/** Paths of one day of the 2019 trace; `durations` and `memory` are optional. */
export interface Azure2019Files {
  invocations: string;
  durations?: string;
  memory?: string;
}

/**
 * Where the invocations the 2019 trace counts in one minute are placed inside that minute. The
 * trace does not say, and the choice decides the idle times shorter than a minute that adaptive
 * keep-alive policies learn from (see the README's keep-alive results):
 * - `spread` (the default): evenly, at the centres of n equal slices ({@link spreadMinute});
 * - `start`: all at the minute's first instant, the trace's own resolution: a minute-resolution
 *   simulation sees no idle time inside a minute;
 * - `random`: uniformly at random, as InVitro draws them, from a generator seeded by the function's
 *   key, so two runs (and any subset of the functions) agree.
 */
export const MINUTE_ARRIVALS = ['spread', 'start', 'random'] as const;
export type MinuteArrivals = (typeof MINUTE_ARRIVALS)[number];

/** `text` as a {@link MinuteArrivals}, or KINDLING_BAD_REQUEST naming the accepted values. */
export function parseMinuteArrivals(text: string): MinuteArrivals {
  const mode = MINUTE_ARRIVALS.find((m) => m === text);
  if (!mode)
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `unknown minute-arrivals model ${JSON.stringify(text)}; use one of ${MINUTE_ARRIVALS.join(', ')}`,
      { minuteArrivals: text, accepted: [...MINUTE_ARRIVALS] },
    );
  return mode;
}

/**
 * Start times of `count` invocations that fall in minute `minute` (0-based), in ms, spread evenly
 * and deterministically: invocation i of n starts at `minute·60 s + ⌊(i + ½)·60 s / n⌋`, i.e. at the
 * centres of n equal slices of the minute. Centring (rather than starting at second 0) keeps a
 * function invoked once a minute at exactly 60 s inter-arrival times, and no random seed is needed
 * for two runs to agree.
 */
export function spreadMinute(count: number, minute: number): number[] {
  const out: number[] = [];
  const base = minute * MINUTE_MS;
  for (let i = 0; i < count; i++) out.push(base + Math.floor(((i + 0.5) * MINUTE_MS) / count));
  return out;
}

/** A uniform generator on [0, 1) seeded by a string ({@link hash32} into mulberry32). */
export function seededUniform(seed: string): () => number {
  let state = hash32(seed);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Places one minute's `count` invocations by `mode`, sorted; `random` draws from `uniform` (one
 * generator per function, so its minutes are independent draws).
 */
export function arrivalsInMinute(
  count: number,
  minute: number,
  mode: MinuteArrivals,
  uniform: () => number,
): number[] {
  const base = minute * MINUTE_MS;
  switch (mode) {
    case 'spread':
      return spreadMinute(count, minute);
    case 'start':
      return new Array<number>(count).fill(base);
    case 'random': {
      const out: number[] = [];
      for (let i = 0; i < count; i++) out.push(base + Math.floor(uniform() * MINUTE_MS));
      return out.sort((a, b) => a - b);
    }
  }
}

/** Finds the per-minute columns (`1..N` or `minute_1..minute_N`) in order; they must be contiguous from 1. */
function minuteColumns(file: string, header: CsvHeader): number[] {
  const byMinute = new Map<number, number>();
  header.names.forEach((name, i) => {
    const m = /^(?:minute_)?(\d+)$/.exec(name);
    if (m) byMinute.set(Number(m[1]), i);
  });
  const cols: number[] = [];
  for (let minute = 1; byMinute.has(minute); minute++) cols.push(byMinute.get(minute) as number);
  if (cols.length === 0 || cols.length !== byMinute.size)
    throw csvError(
      { file, line: 1 },
      `expected per-minute columns "1".."1440" (official) or "minute_1".."minute_1440" (re-sampled), ` +
        `found ${byMinute.size} numbered columns of which ${cols.length} are contiguous from 1`,
    );
  return cols;
}

/**
 * Streams the rows of a 2019 invocations file (either column order), validating every value.
 * Use this directly for files too large to expand into start times.
 */
export async function* readAzure2019Rows(file: string): AsyncGenerator<Azure2019Row & { line: number }> {
  let header: CsvHeader | undefined;
  let cols: { owner: number; app: number; fn: number; trigger: number | undefined; minutes: number[] };
  for await (const record of readCsv(file)) {
    if (!header) {
      header = parseHeader(file, record);
      cols = {
        owner: requireColumn(file, header, 'HashOwner'),
        app: requireColumn(file, header, 'HashApp'),
        fn: requireColumn(file, header, 'HashFunction'),
        trigger: header.index.get('Trigger'),
        minutes: minuteColumns(file, header),
      };
      continue;
    }
    checkWidth(file, header, record);
    const c = cols!;
    const h = header;
    const row: Azure2019Row & { line: number } = {
      line: record.line,
      owner: textField(file, h, record, c.owner),
      app: textField(file, h, record, c.app),
      function: textField(file, h, record, c.fn),
      counts: c.minutes.map((i) => numberField(file, h, record, i, true)),
    };
    if (c.trigger !== undefined) row.trigger = textField(file, h, record, c.trigger);
    yield row;
  }
}

/** Reads a 2019 invocations file into functions with sorted start times (no durations or memory yet). */
export async function readAzure2019Invocations(
  file: string,
  options: Azure2019InvocationOptions = {},
): Promise<{ functions: TraceFunction[]; horizonMs: number }> {
  const offset = options.dayOffsetMs ?? 0;
  const arrivals = options.minuteArrivals ?? 'spread';
  const seen = new Map<string, number>();
  const functions: TraceFunction[] = [];
  let minutes = 0;
  for await (const row of readAzure2019Rows(file)) {
    minutes = row.counts.length;
    const key = `${row.app}/${row.function}`;
    const first = seen.get(key);
    if (first !== undefined)
      throw csvError({ file, line: row.line }, `function ${key} already appeared on line ${first}`);
    seen.set(key, row.line);
    if (options.filter && !options.filter(row)) continue;
    const startsMs: number[] = [];
    const uniform = seededUniform(key);
    row.counts.forEach((count, minute) => {
      for (const t of arrivalsInMinute(count, minute, arrivals, uniform)) startsMs.push(t + offset);
    });
    const fn: TraceFunction = { key, function: row.function, app: row.app, owner: row.owner, startsMs };
    if (row.trigger !== undefined) fn.trigger = row.trigger;
    functions.push(fn);
  }
  functions.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { functions, horizonMs: minutes * MINUTE_MS };
}

/** Reads a 2019 durations file: `app/function` → execution-time statistics. */
export async function readAzure2019Durations(file: string): Promise<Map<string, DurationStats>> {
  const out = new Map<string, DurationStats>();
  let header: CsvHeader | undefined;
  let cols: Record<'app' | 'fn' | 'count' | 'avg' | 'min' | 'max', number>;
  let pcts: [number, number][] = [];
  for await (const record of readCsv(file)) {
    if (!header) {
      header = parseHeader(file, record);
      const h = header;
      const col = (name: string) => requireColumn(file, h, name);
      cols = {
        app: col('HashApp'),
        fn: col('HashFunction'),
        count: col('Count'),
        avg: col('Average'),
        min: col('Minimum'),
        max: col('Maximum'),
      };
      pcts = [];
      header.names.forEach((name, i) => {
        const m = /^percentile_Average_(\d+)$/.exec(name);
        if (m) pcts.push([Number(m[1]), i]);
      });
      continue;
    }
    checkWidth(file, header, record);
    const c = cols!;
    const num = (i: number) => numberField(file, header!, record, i);
    const key = `${textField(file, header, record, c.app)}/${textField(file, header, record, c.fn)}`;
    if (out.has(key)) throw csvError({ file, line: record.line }, `function ${key} appears twice`);
    const percentilesMs: Record<number, number> = {};
    for (const [p, i] of pcts) percentilesMs[p] = num(i);
    out.set(key, {
      count: numberField(file, header, record, c.count, true),
      averageMs: num(c.avg),
      minimumMs: num(c.min),
      maximumMs: num(c.max),
      percentilesMs,
    });
  }
  return out;
}

/** Reads a 2019 memory file: application hash → average allocated memory in MiB. */
export async function readAzure2019Memory(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let header: CsvHeader | undefined;
  let app = 0;
  let avg = 0;
  for await (const record of readCsv(file)) {
    if (!header) {
      header = parseHeader(file, record);
      app = requireColumn(file, header, 'HashApp');
      avg = requireColumn(file, header, 'AverageAllocatedMb');
      continue;
    }
    checkWidth(file, header, record);
    const key = textField(file, header, record, app);
    if (out.has(key)) throw csvError({ file, line: record.line }, `application ${key} appears twice`);
    out.set(key, numberField(file, header, record, avg));
  }
  return out;
}

/** Reads one day of the 2019 trace and joins durations (per function) and memory (per application). */
export async function readAzure2019(
  files: Azure2019Files,
  options: Azure2019InvocationOptions = {},
): Promise<Trace> {
  const { functions, horizonMs } = await readAzure2019Invocations(files.invocations, options);
  const durations = files.durations ? await readAzure2019Durations(files.durations) : undefined;
  const memory = files.memory ? await readAzure2019Memory(files.memory) : undefined;
  for (const fn of functions) {
    const d = durations?.get(fn.key);
    if (d) fn.duration = d;
    const m = memory?.get(fn.app);
    if (m !== undefined) fn.memoryMb = m;
  }
  return {
    format: 'azure2019',
    horizonMs: horizonMs + (options.dayOffsetMs ?? 0),
    functions,
    minuteArrivals: options.minuteArrivals ?? 'spread',
  };
}

/**
 * Reads a directory laid out as the InVitro samples are: `invocations.csv`, and optionally
 * `durations.csv` and `memory.csv`.
 */
export async function readAzure2019Dir(
  dir: string,
  options: Azure2019InvocationOptions = {},
): Promise<Trace> {
  const invocations = join(dir, 'invocations.csv');
  if (!existsSync(invocations))
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `${dir} has no invocations.csv; pass the files explicitly`,
      {
        dir,
      },
    );
  const files: Azure2019Files = { invocations };
  for (const name of ['durations', 'memory'] as const) {
    const p = join(dir, `${name}.csv`);
    if (existsSync(p)) files[name] = p;
  }
  return readAzure2019(files, options);
}
