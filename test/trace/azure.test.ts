import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import {
  arrivalsInMinute,
  parseMinuteArrivals,
  readAzure2019,
  readAzure2019Dir,
  seededUniform,
  spreadMinute,
} from '../../src/trace/azure2019.js';
import { readTraceDir } from '../../src/trace/load.js';
import { readAzure2021 } from '../../src/trace/azure2021.js';
import { invocationCount } from '../../src/trace/trace.js';

const TRACES = new URL('../../../../shared/data/traces/', import.meta.url).pathname;
const DIR2019 = join(TRACES, 'azure2019-sample100');
const FILE2021 = join(TRACES, 'azure2021-sample200', 'invocations.csv');

const tmp = mkdtempSync(join(tmpdir(), 'kindling-trace-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
function write(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

/** Sum of all per-minute counts in a CSV whose first `skip` columns are not counts. */
function csvSum(file: string, skip: number): number {
  let sum = 0;
  for (const line of readFileSync(file, 'utf8').trim().split('\n').slice(1))
    for (const v of line.split(',').slice(skip)) sum += Number(v);
  return sum;
}

const badRequestAt = (line: number, column?: number) => (err: unknown) =>
  KindlingError.is(err) &&
  err.code === 'KINDLING_BAD_REQUEST' &&
  err.details?.line === line &&
  (column === undefined || err.details?.column === column);

const minutes = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

describe('azure 2019 reader', () => {
  it('spreads a minute evenly and deterministically', () => {
    assert.deepEqual(spreadMinute(1, 0), [30_000]);
    assert.deepEqual(spreadMinute(4, 2), [127_500, 142_500, 157_500, 172_500]);
    assert.deepEqual(spreadMinute(0, 5), []);
  });

  it('places a minute at its start, evenly or at random, as asked', () => {
    const never = () => assert.fail('only random draws');
    assert.deepEqual(arrivalsInMinute(3, 2, 'start', never), [120_000, 120_000, 120_000]);
    assert.deepEqual(arrivalsInMinute(4, 2, 'spread', never), spreadMinute(4, 2));
    const drawn = arrivalsInMinute(50, 2, 'random', seededUniform('app/fn'));
    assert.equal(drawn.length, 50);
    for (let i = 0; i < drawn.length; i++) {
      assert.ok(drawn[i]! >= 120_000 && drawn[i]! < 180_000, `${drawn[i]} in minute 2`);
      if (i > 0) assert.ok(drawn[i - 1]! <= drawn[i]!, 'sorted');
    }
    // One seed, one sequence; another seed, another sequence.
    assert.deepEqual(arrivalsInMinute(50, 2, 'random', seededUniform('app/fn')), drawn);
    assert.notDeepEqual(arrivalsInMinute(50, 2, 'random', seededUniform('app/other')), drawn);
    assert.equal(parseMinuteArrivals('start'), 'start');
    assert.throws(
      () => parseMinuteArrivals('middle'),
      (e: unknown) =>
        KindlingError.is(e) &&
        e.code === 'KINDLING_BAD_REQUEST' &&
        /unknown minute-arrivals model "middle"; use one of spread, start, random/.test(e.message),
    );
  });

  it('reads the sample with each arrival model: the same counts per minute, placed differently', async () => {
    const byModel = await Promise.all(
      (['spread', 'start', 'random'] as const).map((minuteArrivals) =>
        readTraceDir(DIR2019, { minuteArrivals }),
      ),
    );
    const perMinute = (starts: number[]) => {
      const counts = new Map<number, number>();
      for (const t of starts)
        counts.set(Math.floor(t / 60_000), (counts.get(Math.floor(t / 60_000)) ?? 0) + 1);
      return [...counts];
    };
    const [spread, start, random] = byModel;
    assert.deepEqual(
      byModel.map((t) => t.minuteArrivals),
      ['spread', 'start', 'random'],
    );
    for (let i = 0; i < spread!.functions.length; i++) {
      const s = spread!.functions[i]!.startsMs;
      assert.deepEqual(perMinute(start!.functions[i]!.startsMs), perMinute(s));
      assert.deepEqual(perMinute(random!.functions[i]!.startsMs), perMinute(s));
      assert.ok(start!.functions[i]!.startsMs.every((t) => t % 60_000 === 0));
    }
    // Random placement is seeded per function: a filtered read draws the same times.
    const one = random!.functions[7]!;
    const alone = await readAzure2019Dir(DIR2019, {
      minuteArrivals: 'random',
      filter: (row) => `${row.app}/${row.function}` === one.key,
    });
    assert.deepEqual(alone.functions[0]!.startsMs, one.startsMs);
  });

  it('reads the re-sampled sample: counts match the CSV, durations and memory are joined', async () => {
    const trace = await readAzure2019Dir(DIR2019);
    assert.equal(trace.functions.length, 100);
    assert.equal(invocationCount(trace), csvSum(join(DIR2019, 'invocations.csv'), 3));
    assert.equal(invocationCount(trace), 621_128);
    assert.equal(trace.horizonMs, 1440 * 60_000);
    for (const fn of trace.functions) {
      for (let i = 1; i < fn.startsMs.length; i++) assert.ok(fn.startsMs[i - 1]! <= fn.startsMs[i]!);
      assert.ok(fn.duration, `durations for ${fn.key}`);
      assert.ok(fn.memoryMb !== undefined && fn.memoryMb > 0, `memory for ${fn.key}`);
    }
    const first = trace.functions.find((f) => f.function.startsWith('1779fd33'));
    assert.equal(first?.duration?.averageMs, 81067);
    assert.equal(first?.memoryMb, 2382);
  });

  it('accepts the official column order (HashOwner,HashApp,HashFunction,Trigger,1..1440)', async () => {
    const counts = Array.from({ length: 1440 }, (_, i) => (i === 0 ? 2 : i === 1439 ? 1 : 0));
    const file = write(
      'official.csv',
      [
        ['HashOwner', 'HashApp', 'HashFunction', 'Trigger', ...minutes(1440, '')].join(','),
        ['o1', 'a1', 'f1', 'http', ...counts].join(','),
        ['o1', 'a1', 'f2', 'timer', ...counts.map(() => 0)].join(','),
      ].join('\n') + '\n',
    );
    const trace = await readAzure2019({ invocations: file });
    assert.deepEqual(
      trace.functions.map((f) => [f.key, f.owner, f.trigger, f.startsMs]),
      [
        ['a1/f1', 'o1', 'http', [15_000, 45_000, 1439 * 60_000 + 30_000]],
        ['a1/f2', 'o1', 'timer', []],
      ],
    );
  });

  it('names the line and column of a malformed value', async () => {
    const header = ['HashFunction', 'HashApp', 'HashOwner', ...minutes(3, 'minute_')].join(',');
    const bad = write('bad.csv', `${header}\nf,a,o,1,2,3\nf2,a,o,1,x,3\n`);
    await assert.rejects(readAzure2019({ invocations: bad }), badRequestAt(3, 5));
    await assert.rejects(readAzure2019({ invocations: bad }), /bad\.csv: line 3, column 5 \(minute_2\): "x"/);
    const short = write('short.csv', `${header}\nf,a,o,1,2\n`);
    await assert.rejects(readAzure2019({ invocations: short }), /line 2: expected 6 fields .* found 5/);
    const negative = write('neg.csv', `${header}\nf,a,o,1,-2,3\n`);
    await assert.rejects(readAzure2019({ invocations: negative }), badRequestAt(2, 5));
    const noMinutes = write('nomin.csv', 'HashFunction,HashApp,HashOwner,minute_2\nf,a,o,1\n');
    await assert.rejects(readAzure2019({ invocations: noMinutes }), /per-minute columns/);
    const dup = write('dup.csv', `${header}\nf,a,o,1,2,3\nf,a,o,0,0,0\n`);
    await assert.rejects(
      readAzure2019({ invocations: dup }),
      /line 3: function a\/f already appeared on line 2/,
    );
    const missing = write('missing.csv', 'HashFunction,HashApp,minute_1\nf,a,1\n');
    await assert.rejects(readAzure2019({ invocations: missing }), /missing column "HashOwner"/);
  });

  it('filters rows before expanding them and offsets later days', async () => {
    const trace = await readAzure2019Dir(DIR2019, {
      filter: (row) => row.function.startsWith('1779fd33'),
      dayOffsetMs: 86_400_000,
    });
    assert.equal(trace.functions.length, 1);
    assert.ok(trace.functions[0]!.startsMs.every((t) => t >= 86_400_000));
  });
});

describe('azure 2021 reader', () => {
  it('reads the sample: one start per row, sorted, with durations', async () => {
    const trace = await readAzure2021(FILE2021);
    const rows = readFileSync(FILE2021, 'utf8').trim().split('\n').length - 1;
    assert.equal(invocationCount(trace), rows);
    assert.equal(trace.functions.length, 31);
    assert.equal(new Set(trace.functions.map((f) => f.app)).size, 13);
    for (const fn of trace.functions) {
      assert.equal(fn.durationsMs?.length, fn.startsMs.length);
      for (let i = 1; i < fn.startsMs.length; i++) assert.ok(fn.startsMs[i - 1]! <= fn.startsMs[i]!);
    }
  });

  it('computes start = end − duration and rejects malformed rows', async () => {
    const file = write('t21.csv', 'app,func,end_timestamp,duration\na,f,10.5,0.5\na,f,3,1\nb,g,2,2\n');
    const trace = await readAzure2021(file);
    assert.deepEqual(
      trace.functions.map((f) => [f.key, f.startsMs, f.durationsMs]),
      [
        ['a/f', [2000, 10_000], [1000, 500]],
        ['b/g', [0], [2000]],
      ],
    );
    assert.equal(trace.horizonMs, 10_500);
    const bad = write('bad21.csv', 'app,func,end_timestamp,duration\na,f,10.5,0.5\na,f,,1\n');
    await assert.rejects(readAzure2021(bad), badRequestAt(3, 3));
  });
});
