/**
 * Streaming reader for the plain CSV the Azure traces use: no quoting, one record per line. Streams
 * line by line (the official 2019 invocation files are ~150 MB per day) and keeps the line number,
 * so every validation error can name the file, line and column.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { KindlingError } from '../core/errors.js';

/** One data record: its 1-based line number in the file and its fields. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/** A header, with a lookup from column name to index. */
export interface CsvHeader {
  names: string[];
  index: Map<string, number>;
}

/** Position of a value in a file, for error messages. */
export interface CsvPosition {
  file: string;
  line: number;
}

/** A `KINDLING_BAD_REQUEST` naming where in the file the problem is. */
export function csvError(
  where: CsvPosition,
  message: string,
  column?: { index: number; name: string },
): KindlingError {
  const col = column ? `, column ${column.index + 1} (${column.name})` : '';
  return new KindlingError('KINDLING_BAD_REQUEST', `${where.file}: line ${where.line}${col}: ${message}`, {
    file: where.file,
    line: where.line,
    ...(column ? { column: column.index + 1, columnName: column.name } : {}),
  });
}

/**
 * Reads `file` and yields its header first, then every non-empty data line. A quoted field is
 * rejected rather than mis-split: none of the trace formats quote, so a quote means a wrong file.
 */
export async function* readCsv(file: string): AsyncGenerator<CsvRecord> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let line = 0;
  for await (const raw of lines) {
    line++;
    const text = line === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (text.trim() === '') continue;
    if (text.includes('"'))
      throw csvError({ file, line }, 'quoted fields are not supported by the Azure trace formats');
    yield { line, fields: text.split(',').map((f) => f.trim()) };
  }
  if (line === 0) throw csvError({ file, line: 1 }, 'the file is empty; expected a header line');
}

/** Builds a header lookup; rejects duplicate column names. */
export function parseHeader(file: string, record: CsvRecord): CsvHeader {
  const index = new Map<string, number>();
  record.fields.forEach((name, i) => {
    if (index.has(name))
      throw csvError({ file, line: record.line }, `duplicate column name "${name}"`, { index: i, name });
    index.set(name, i);
  });
  return { names: record.fields, index };
}

/** Index of a required column, or an error listing the columns the file has. */
export function requireColumn(file: string, header: CsvHeader, name: string): number {
  const i = header.index.get(name);
  if (i === undefined)
    throw csvError(
      { file, line: 1 },
      `missing column "${name}"; the header has: ${header.names.slice(0, 8).join(', ')}${header.names.length > 8 ? ', …' : ''}`,
    );
  return i;
}

/** Checks that a record has as many fields as the header. */
export function checkWidth(file: string, header: CsvHeader, record: CsvRecord): void {
  if (record.fields.length !== header.names.length)
    throw csvError(
      { file, line: record.line },
      `expected ${header.names.length} fields as in the header, found ${record.fields.length}`,
    );
}

/** A non-empty text field. */
export function textField(file: string, header: CsvHeader, record: CsvRecord, i: number): string {
  const v = record.fields[i] ?? '';
  if (v === '')
    throw csvError({ file, line: record.line }, 'empty value', { index: i, name: header.names[i] ?? '?' });
  return v;
}

/** A finite number ≥ 0 (integer when `integer` is set). */
export function numberField(
  file: string,
  header: CsvHeader,
  record: CsvRecord,
  i: number,
  integer = false,
): number {
  const v = record.fields[i] ?? '';
  // Number('') is 0 and Number(' 1e3') parses, so check the shape before converting.
  const ok = integer ? /^\d+$/.test(v) : /^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v);
  const n = Number(v);
  if (!ok || !Number.isFinite(n))
    throw csvError(
      { file, line: record.line },
      `"${v}" is not a ${integer ? 'non-negative integer' : 'non-negative number'}`,
      { index: i, name: header.names[i] ?? '?' },
    );
  return n;
}
