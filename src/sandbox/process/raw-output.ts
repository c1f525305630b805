/**
 * The child's raw stdout and stderr, host side: byte counters (results wait until the host has read
 * what the runtime says was written), the stderr tail kept for crash reports, and line splitting into
 * whichever log capture owns the bytes.
 */
import { RawLineSplitter } from './log-capture.js';
import type { LogCapture } from './log-capture.js';

/** Which stream: 0 = stdout, 1 = stderr (the order of the runtime's `out` counters). */
export type StreamIndex = 0 | 1;

const STDERR_TAIL_BYTES = 8 * 1024;

/** Raw output of one instance. */
export class RawOutput {
  private readonly received: [number, number] = [0, 0];
  private readonly splitters: [RawLineSplitter, RawLineSplitter];
  private tail = Buffer.alloc(0);

  /**
   * @param now stamps lines on arrival (epoch ms).
   * @param maxLineChars longest partial line buffered (the log budget: a longer line is truncated anyway).
   */
  constructor(now: () => number, maxLineChars: number) {
    this.splitters = [
      new RawLineSplitter('stdout', now, maxLineChars),
      new RawLineSplitter('stderr', now, maxLineChars),
    ];
  }

  /** Takes a chunk read from one stream and hands its lines to `owner`. */
  push(index: StreamIndex, chunk: Buffer, owner: LogCapture): void {
    this.received[index] += chunk.length;
    if (index === 1) {
      const joined = Buffer.concat([this.tail, chunk.subarray(-STDERR_TAIL_BYTES)]);
      this.tail = joined.subarray(Math.max(0, joined.length - STDERR_TAIL_BYTES));
    }
    this.splitters[index].push(chunk, owner);
  }

  /** True once at least `out` bytes (stdout, stderr) have been read. */
  covers(out: readonly [number, number]): boolean {
    return this.received[0] >= out[0] && this.received[1] >= out[1];
  }

  /** Ends pending partial lines that belong to `owner` (its invocation is done). */
  flushOwnedBy(owner: LogCapture): void {
    for (const splitter of this.splitters) splitter.flushIfOwnedBy(owner);
  }

  /** Ends every pending partial line (the process is gone). */
  flushAll(): void {
    for (const splitter of this.splitters) splitter.flush();
  }

  /** The last few KiB of stderr, for crash reports. */
  stderrTail(): string {
    return this.tail.toString('utf8');
  }
}
