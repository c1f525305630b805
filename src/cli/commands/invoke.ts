/** `kindling invoke NAME`: run a function and show its result and where the time went. */
import { readFileSync } from 'node:fs';
import type { InvocationRecord } from '../../control/invocations.js';
import type { Phase } from '../../core/phases.js';
import { CliError } from '../cli-error.js';
import type { ApiClient } from '../client.js';
import { formatErrorReport } from '../error-report.js';
import { formatMs, oneLine, parseServerTiming, phaseBars } from '../format.js';

export interface InvokeFlags {
  data?: string;
  dataFile?: string;
  async?: boolean;
  wait?: boolean;
  qualifier?: string;
  logs?: boolean;
  json?: boolean;
}

/** Flag combinations that cannot mean what they say, refused before anything is sent. */
function checkFlags(flags: InvokeFlags): void {
  if (flags.data !== undefined && flags.dataFile !== undefined)
    throw new CliError('--data and --data-file both give the event: pass one of them');
  if (flags.wait && !flags.async)
    throw new CliError(
      '--wait only applies with --async (a plain invoke already waits for the result): add --async or drop --wait',
    );
}

/** What went wrong reading a file, in words, from Node's error code. */
const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
};

const dataFileName = (file: string) => (file === '-' ? '- (stdin)' : file);

function readDataFile(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = (e.code && READ_ERRORS[e.code]) ?? e.code ?? e.message;
    throw new CliError(`cannot read --data-file ${dataFileName(file)}: ${why}`);
  }
}

/** The event: --data, --data-file or `{}`, checked to be JSON. */
function payload(flags: InvokeFlags): string {
  const raw = flags.dataFile !== undefined ? readDataFile(flags.dataFile) : (flags.data ?? '{}');
  try {
    JSON.parse(raw);
  } catch (err) {
    const source = flags.dataFile !== undefined ? `--data-file ${dataFileName(flags.dataFile)}` : '--data';
    throw new CliError(
      `${source} is not valid JSON: ${(err as Error).message} (e.g. --data '{"name":"you"}')`,
    );
  }
  return raw;
}

function printLogs(record: InvocationRecord): void {
  for (const line of record.logs)
    console.log(`  ${new Date(line.t).toISOString()} ${line.level.padEnd(6)} ${line.msg}`);
  if (record.logsDroppedBytes > 0) console.log(`  … ${record.logsDroppedBytes} more bytes of output dropped`);
}

export async function invoke(client: ApiClient, name: string, flags: InvokeFlags): Promise<void> {
  checkFlags(flags);
  const raw = payload(flags);
  const query = new URLSearchParams();
  if (flags.qualifier) query.set('qualifier', flags.qualifier);
  if (flags.async) query.set('mode', 'async');
  const path = `/v1/functions/${encodeURIComponent(name)}/invoke${query.size ? `?${query}` : ''}`;
  const res = await client.request<unknown>('POST', path, undefined, {
    raw,
    allowError: true,
  });

  if (flags.async) {
    if (res.status !== 202) {
      const error = (res.body as { error?: { code?: string; message?: string } } | null)?.error;
      throw new CliError(error?.message ?? `HTTP ${res.status}`, error?.code ?? 'KINDLING_INTERNAL');
    }
    const accepted = res.body as { id: string };
    if (!flags.wait) {
      console.log(
        flags.json
          ? JSON.stringify(accepted)
          : `Accepted: invocation ${accepted.id}\n  status: npx kindling invocation ${accepted.id}`,
      );
      return;
    }
    const record = await waitFor(client, accepted.id);
    // As a plain invoke: the record on stdout, the error (with its frames) only on stderr.
    if (flags.json) console.log(JSON.stringify(record));
    else printRecord(record, { withError: false });
    if (record.status === 'failed')
      failed(record.error ?? { code: 'KINDLING_INTERNAL', message: 'the invocation failed' }, flags.json);
    return;
  }

  const id = res.headers.get('x-kindling-invocation-id') ?? '';
  const errorBody =
    res.status >= 400
      ? (res.body as { error?: { code?: string; message?: string; details?: unknown } }).error
      : undefined;
  const error = errorBody && {
    code: errorBody.code ?? 'KINDLING_INTERNAL',
    message: errorBody.message ?? `HTTP ${res.status}`,
    details: errorBody.details,
  };
  if (!id && error) throw new CliError(error.message, error.code);
  if (flags.json) {
    const record = (await client.request<InvocationRecord>('GET', `/v1/invocations/${id}`)).body;
    console.log(JSON.stringify(record));
    if (error) failed(error, true);
    return;
  }
  if (error) failed(error, false);
  else console.log(typeof res.body === 'string' ? res.body : JSON.stringify(res.body, null, 2));
  const timing = parseServerTiming(res.headers.get('server-timing'));
  const cold = res.headers.get('x-kindling-cold') === '1';
  const startPath = res.headers.get('x-kindling-start-path');
  console.log('');
  console.log(
    `${cold ? `cold start${startPath ? ` (${startPath})` : ''}` : 'warm'} · ${formatMs(timing.total ?? 0)} total · v${res.headers.get('x-kindling-version')} · ${res.headers.get('x-kindling-tier') ?? '?'} · ${res.headers.get('x-kindling-instance') ?? '-'} · ${id}`,
  );
  console.log(phaseBars(timing as Partial<Record<Phase, number>>));
  if (flags.logs) {
    const record = (await client.request<InvocationRecord>('GET', `/v1/invocations/${id}`)).body;
    console.log('logs:');
    printLogs(record);
  }
}

/**
 * A failed invocation's error on stderr, in one line followed by the frames where the function's own
 * code threw (source-mapped), and a non-zero exit; its record (or result and phases) goes to stdout
 * like any other. With --json the error is the object every CLI error is, so a script sees the same
 * shape whatever failed.
 */
function failed(
  error: { code: string; message: string; details?: unknown },
  json: boolean | undefined,
): void {
  if (json) console.error(formatErrorReport({ code: error.code, message: oneLine(error.message) }, true));
  else for (const line of errorLines(error)) console.error(line);
  process.exitCode = 1;
}

/** The error line and its frames. */
function errorLines(error: { code: string; message: string; details?: unknown }): string[] {
  return [errorLine(error), ...stackFrames(error.details)];
}

/**
 * `error CODE: message`, with the type of what the function threw where it says
 * (`error KINDLING_HANDLER_ERROR (RangeError): order has no items`).
 */
function errorLine(error: { code: string; message: string; details?: unknown }): string {
  const type = (error.details as { errorType?: unknown } | undefined)?.errorType;
  return `error ${error.code}${typeof type === 'string' && type ? ` (${type})` : ''}: ${oneLine(error.message)}`;
}

/** The `at …` lines of an error's `details.stack` (a handler's error carries one). */
function stackFrames(details: unknown): string[] {
  const stack = (details as { stack?: unknown } | undefined)?.stack;
  return typeof stack === 'string' ? stack.split('\n').filter((line) => /^\s+at /.test(line)) : [];
}

async function waitFor(client: ApiClient, id: string): Promise<InvocationRecord> {
  for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
    const record = (await client.request<InvocationRecord>('GET', `/v1/invocations/${id}`)).body;
    if (record.status === 'succeeded' || record.status === 'failed') return record;
    await new Promise((r) => setTimeout(r, delay));
  }
}

/**
 * Prints an invocation record for people; `withError: false` leaves its error out, for a caller that
 * reports it on stderr.
 */
export function printRecord(record: InvocationRecord, { withError = true } = {}): void {
  console.log(
    `invocation ${record.id} · ${record.functionName} v${record.version} · ${record.mode} · ${record.status}`,
  );
  if (record.status === 'succeeded') console.log(JSON.stringify(record.result ?? null, null, 2));
  if (record.error && withError) for (const line of errorLines(record.error)) console.log(line);
  if (record.phases) {
    console.log(
      `${record.cold ? `cold start${record.startPath ? ` (${record.startPath})` : ''}` : 'warm'} · ${formatMs(record.totalMs ?? 0)} total · ${record.tier ?? '?'} · ${record.instanceId ?? '-'}`,
    );
    console.log(phaseBars(record.phases));
  }
  if (record.logs.length || record.logsDroppedBytes) {
    console.log('logs:');
    printLogs(record);
  }
}
