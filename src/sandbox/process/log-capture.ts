/**
 * Host-side log capture for process instances: a byte budget per invocation (and one for the instance
 * itself), and a splitter that turns the child's raw stdout/stderr bytes into lines.
 *
 * Memory stays bounded however much a function prints: once a budget is spent, bytes are only counted.
 */
import { StringDecoder } from 'node:string_decoder';
import type { LogLine } from '../tier.js';
import { fitLine } from './protocol.cjs';

/** Lines kept for one invocation (or for the instance), within `limitBytes`; the rest is counted. */
export class LogCapture {
  private lines: LogLine[] = [];
  private used = 0;
  private dropped = 0;

  /** @param limitBytes budget for message bytes plus one (the newline) per line. */
  constructor(private readonly limitBytes: number) {}

  /** True once the budget is spent: further lines are only counted. */
  get full(): boolean {
    return this.used >= this.limitBytes;
  }

  /** Bytes dropped so far. */
  get droppedBytes(): number {
    return this.dropped;
  }

  /**
   * Keeps a line if it fits. The line that crosses the budget keeps its head (it usually says what was
   * being printed), and the budget is then spent: the same rule the runtime applies to console output.
   */
  add(t: number, level: LogLine['level'], msg: string): void {
    const fit = fitLine(msg, this.limitBytes - this.used);
    if (fit.kept !== undefined) this.lines.push({ t, level, msg: fit.kept });
    this.dropped += fit.droppedBytes;
    this.used = fit.droppedBytes === 0 ? this.used + fit.usedBytes : this.limitBytes;
  }

  /** Counts bytes that were dropped before reaching this capture (by the runtime, or unread). */
  addDropped(bytes: number): void {
    this.dropped += bytes;
  }

  /**
   * Returns the lines in time order and resets the capture. Console lines (stamped in the child) and
   * raw output (stamped on arrival) reach the host on different pipes, so arrival order is not time order.
   */
  take(): { logs: LogLine[]; droppedBytes: number } {
    const logs = this.lines.sort((a, b) => a.t - b.t);
    const droppedBytes = this.dropped;
    this.lines = [];
    this.used = 0;
    this.dropped = 0;
    return { logs, droppedBytes };
  }
}

/**
 * Splits one raw output stream (the child's stdout or stderr) into lines for whichever capture the
 * caller says owns the bytes right now.
 */
export class RawLineSplitter {
  private decoder = new StringDecoder('utf8');
  private partial = '';
  private owner: LogCapture | undefined;

  /**
   * @param level `stdout` or `stderr`, recorded on each line.
   * @param now stamps lines on arrival (epoch ms).
   * @param maxLineChars a partial line longer than this is emitted as it is (it would be truncated
   *   anyway), so a stream without newlines cannot grow the buffer.
   */
  constructor(
    private readonly level: 'stdout' | 'stderr',
    private readonly now: () => number,
    private readonly maxLineChars: number,
  ) {}

  /** Attributes a chunk to `capture`. */
  push(chunk: Buffer, capture: LogCapture): void {
    if (capture !== this.owner) {
      // A line started by one owner is not continued by another: close it off where it began.
      this.flush();
      this.owner = capture;
    }
    if (capture.full) {
      // Counting only: decoding and splitting 100 MB that will be dropped would stall the host.
      capture.addDropped(chunk.length + Buffer.byteLength(this.partial));
      this.partial = '';
      this.decoder = new StringDecoder('utf8');
      return;
    }
    const text = this.partial + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    const t = this.now();
    for (const line of lines) capture.add(t, this.level, line);
    if (this.partial.length > this.maxLineChars) {
      capture.add(t, this.level, this.partial);
      this.partial = '';
    }
  }

  /** Emits a pending partial line to its owner (at the end of an invocation, or of the process). */
  flush(): void {
    const rest = this.partial + this.decoder.end();
    this.decoder = new StringDecoder('utf8');
    this.partial = '';
    if (rest.length > 0 && this.owner) this.owner.add(this.now(), this.level, rest);
  }

  /** Emits the pending partial line only if it belongs to `capture`. */
  flushIfOwnedBy(capture: LogCapture): void {
    if (this.owner === capture) this.flush();
  }
}
