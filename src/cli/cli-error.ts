/** An error the CLI prints as one line before exiting non-zero. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
