/**
 * A one-line progress bar on stderr for long work (bundling, uploading). Silent when stderr is not a
 * terminal or output is JSON, so scripts see clean output.
 */
export class Progress {
  private last = '';

  constructor(private readonly enabled: boolean = process.stderr.isTTY === true) {}

  /** Shows `label` with a bar for `done / total` (or just the label when total is unknown). */
  update(label: string, done?: number, total?: number): void {
    if (!this.enabled) return;
    let line = label;
    if (done !== undefined && total !== undefined && total > 0) {
      const width = 24;
      const filled = Math.round((Math.min(done, total) / total) * width);
      line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
    }
    if (line === this.last) return;
    this.last = line;
    process.stderr.write(`\r\x1b[2K${line}`);
  }

  /** Clears the line. */
  done(): void {
    if (this.enabled && this.last) process.stderr.write('\r\x1b[2K');
    this.last = '';
  }
}
