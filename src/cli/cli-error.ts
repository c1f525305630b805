/**
 * Codes of errors the CLI raises itself, without a server's answer. Errors from the server keep the
 * server's code (`KINDLING_FUNCTION_NOT_FOUND`, …).
 * - `KINDLING_USAGE`: a command, flag, argument or local file the CLI refuses; the message says which
 *   and the fix.
 * - `KINDLING_UNREACHABLE`: nothing answered at the platform's address.
 */
export type CliErrorCode = 'KINDLING_USAGE' | 'KINDLING_UNREACHABLE';

/** An error the CLI prints as one line (or, with `--json`, one JSON object) before exiting non-zero. */
export class CliError extends Error {
  /** A stable code: a {@link CliErrorCode}, or the server's error code. */
  readonly code: string;

  constructor(message: string, code: string = 'KINDLING_USAGE' satisfies CliErrorCode) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}
