/**
 * How the CLI reports a failure on stderr: one line for people (`kindling: …`), or with `--json` one
 * JSON object, `{"error":{"code":…,"message":…}}`, the shape of the API's error bodies, so that scripts
 * parse failures the way they parse results.
 */
import { CommanderError } from 'commander';
import { KindlingError } from '../core/errors.js';
import { CliError } from './cli-error.js';
import { oneLine } from './format.js';

/** A failure as the CLI reports it. */
export interface ErrorReport {
  /** A stable code: the server's, a `CliErrorCode`, or `KINDLING_INTERNAL` for an unexpected error. */
  code: string;
  /** One line, without newlines. */
  message: string;
}

/** The code and one-line message of anything thrown while a command ran. */
export function errorReport(err: unknown): ErrorReport {
  if (err instanceof CommanderError) {
    // Commander's messages start with "error: " and may put a suggestion on a second line.
    const message = oneLine(err.message.replace(/^error:\s*/, ''));
    return { code: 'KINDLING_USAGE', message: `${message} (run \`kindling --help\` for usage)` };
  }
  if (err instanceof CliError || KindlingError.is(err))
    return { code: err.code, message: oneLine(err.message) };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'KINDLING_INTERNAL', message: oneLine(message) || 'unexpected error' };
}

/** The report as the one line to print on stderr. */
export function formatErrorReport(report: ErrorReport, json: boolean): string {
  return json ? JSON.stringify({ error: report }) : `kindling: ${report.message}`;
}
