/**
 * Reads a trace directory whatever its format, telling the formats apart by the header of
 * `invocations.csv`: `HashFunction,…` is the 2019 trace, `app,func,end_timestamp,duration` the 2021
 * one.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KindlingError } from '../core/errors.js';
import { readAzure2019Dir, type MinuteArrivals } from './azure2019.js';
import { readAzure2021 } from './azure2021.js';
import type { Trace } from './trace.js';

/** The format of a trace directory, from its `invocations.csv` header. */
export function detectTraceFormat(dir: string): Trace['format'] {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `trace directory ${dir} does not exist or is not a directory`,
      { dir },
    );
  const file = join(dir, 'invocations.csv');
  if (!existsSync(file))
    throw new KindlingError(
      'KINDLING_BAD_REQUEST',
      `${dir} has no invocations.csv; a trace directory holds the Azure 2019 or 2021 files`,
      { dir },
    );
  // The header is the first line; 64 KiB covers the 2019 header's 1443 columns.
  const fd = openSync(file, 'r');
  const buf = Buffer.alloc(65_536);
  let n: number;
  try {
    n = readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  const head = buf.toString('utf8', 0, n).split(/\r?\n/, 1)[0] ?? '';
  const cols = head
    .replace(/^\uFEFF/, '')
    .split(',')
    .map((c) => c.trim());
  if (cols.includes('HashFunction')) return 'azure2019';
  if (cols.includes('app') && cols.includes('func') && cols.includes('end_timestamp')) return 'azure2021';
  throw new KindlingError(
    'KINDLING_BAD_REQUEST',
    `${file}: unknown trace format; expected a HashFunction column (Azure 2019) or app,func,end_timestamp,duration (Azure 2021), found ${cols.slice(0, 5).join(',')}`,
    { file },
  );
}

/** Options of {@link readTraceDir}. */
export interface TraceDirOptions {
  /** Where a 2019 trace's per-minute counts go inside their minutes; the 2021 trace has timestamps. */
  minuteArrivals?: MinuteArrivals;
}

/** Reads a trace directory of either Azure format. */
export async function readTraceDir(dir: string, options: TraceDirOptions = {}): Promise<Trace> {
  return detectTraceFormat(dir) === 'azure2019'
    ? readAzure2019Dir(dir, options.minuteArrivals ? { minuteArrivals: options.minuteArrivals } : {})
    : readAzure2021(join(dir, 'invocations.csv'));
}
