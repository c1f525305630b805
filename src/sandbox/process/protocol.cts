/**
 * The wire protocol between the process tier (host) and its runtime shim (child), over the child's fd 3.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. fd 3 is a Unix
 * socketpair on Linux (Node's extra `'pipe'` stdio entries are duplex sockets), so one channel carries
 * both directions. The child's stdout and stderr stay free for the user's raw output.
 *
 * This module is loaded by the runtime shim, whose start-up time is the cold start: it imports nothing
 * at run time (type-only imports vanish) and does no work at load.
 */
import type { ErrorCode } from '../../core/errors.js';
import type { LogLine } from '../tier.js';

/** Largest frame either side accepts. Results are capped at 6 MiB; this leaves room for big events. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Largest serialised handler result (as AWS Lambda's synchronous response limit). */
export const RESULT_LIMIT_BYTES = 6 * 1024 * 1024;

/** What the host tells the runtime at spawn time, as a JSON string in `argv[2]`. */
export interface RuntimeConfig {
  /**
   * A stem cell: start the runtime, report `runtime-ready`, and wait for a `specialize` message that
   * names the function (the fields below are then empty until it arrives).
   */
  stemCell?: boolean;
  /** Absolute path of the user's entry module. */
  entry: string;
  functionName: string;
  functionVersion: number;
  memoryMb: number;
  logLimitBytes: number;
  /** The function's image is still arriving: read files outside it on demand (see `fault-in.cts`). */
  faultIn?: FaultInConfig;
}

/** A stem cell's configuration: a generic runtime of `memoryMb` that waits to be specialised. */
export function stemCellConfig(memoryMb: number): RuntimeConfig {
  return { stemCell: true, entry: '', functionName: '', functionVersion: 0, memoryMb, logLimitBytes: 0 };
}

/** Where a lazily loaded image is and which of its files are not written yet. */
export interface FaultInConfig {
  /** The image's directory (the function's code directory). */
  root: string;
  /** A file with the JSON array of pending paths relative to `root`; gone once nothing is pending. */
  listPath: string;
}

/** A KindlingError in its JSON form, as it crosses the channel. */
export interface WireError {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** One captured console line: `[epoch ms, level, message]` (a tuple keeps chatty frames small). */
export type WireLogLine = [t: number, level: LogLine['level'], msg: string];

/** Host → runtime: run one invocation. */
export interface InvokeMessage {
  type: 'invoke';
  requestId: string;
  event: unknown;
  timeoutMs: number;
}

/**
 * Host → stem cell: become an instance of this function. Sent once, to a runtime that has run no
 * user code; it takes the environment and working directory, then loads the entry.
 */
export interface SpecializeMessage {
  type: 'specialize';
  entry: string;
  functionName: string;
  functionVersion: number;
  /** The whole environment the function sees (the base plus its own variables). */
  env: Record<string, string>;
  cwd: string;
  logLimitBytes: number;
  faultIn?: FaultInConfig;
}

/** Runtime → host: Node has booted and the shim runs; user code is about to load. */
export interface RuntimeReadyMessage {
  type: 'runtime-ready';
  /** `process.uptime()` in ms inside the child: how much of the start was Node's own bootstrap. */
  uptimeMs: number;
}

/** Runtime → host: the user's module loaded and a handler was found. */
export interface ReadyMessage {
  type: 'ready';
  /** Which export was taken as the handler, e.g. `default.handler`. */
  shape: string;
  uptimeMs: number;
}

/** Runtime → host: loading failed (KINDLING_INIT_FAILED or KINDLING_NO_HANDLER). */
export interface InitErrorMessage {
  type: 'init-error';
  error: WireError;
}

/** Runtime → host: console lines of one invocation (batched per event-loop turn). */
export interface LogMessage {
  type: 'log';
  requestId: string;
  lines: WireLogLine[];
}

/** Fields every result frame carries. */
interface ResultBase {
  type: 'result';
  requestId: string;
  /** Console bytes the runtime dropped for this invocation (over `logLimitBytes`). */
  droppedBytes: number;
  /**
   * Bytes written so far to process.stdout and process.stderr. The host holds the result until it
   * has read that much from each pipe, so raw output lands on the invocation that wrote it.
   */
  out: [stdout: number, stderr: number];
}

/** Runtime → host: an invocation finished. */
export type ResultMessage =
  (ResultBase & { ok: true; result: unknown }) | (ResultBase & { ok: false; error: WireError });

/** Runtime → host: an uncaught exception or unhandled rejection is about to end the process. */
export interface FatalMessage {
  type: 'fatal';
  origin: string;
  message: string;
  stack: string | undefined;
}

/**
 * Runtime → host, on its own descriptor: the function is about to read files of its image that are
 * not written yet, one JSON array of paths (relative to the image root) per line; the runtime waits
 * until they appear. Not on the fd-3 channel: a runtime blocked on a fault cannot wait for that
 * socket to drain what it queued before, and only synchronous writes ever go to this one.
 */
export const FAULT_FD = 4;

/** Every message the host sends. */
export type HostMessage = InvokeMessage | SpecializeMessage;

/** Every message the runtime sends. */
export type RuntimeMessage =
  RuntimeReadyMessage | ReadyMessage | InitErrorMessage | LogMessage | ResultMessage | FatalMessage;

/** Encodes an already-serialised JSON text as one frame (lets the runtime splice a result in). */
export function encodeJsonFrame(json: string): Buffer {
  const length = Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame.write(json, 4, 'utf8');
  return frame;
}

/** Encodes one message as one frame. */
export function encodeFrame(message: HostMessage | RuntimeMessage): Buffer {
  return encodeJsonFrame(JSON.stringify(message));
}

/** Where a FrameWriter writes: a socket. */
export interface FrameSink {
  write(chunk: Buffer): unknown;
}

/**
 * Coalesces the frames written during one event-loop turn into one socket write. Under load many
 * invocations leave (host) or finish (runtime) in the same turn, and each write is a system call plus
 * a wake-up of the other process; measured, the per-frame writes were the host's largest single cost
 * at high request rates. The delay is at most the rest of the current turn (a `setImmediate`).
 */
export class FrameWriter {
  private queued: Buffer[] = [];
  private scheduled = false;

  constructor(private readonly sink: FrameSink) {}

  /** Queues a frame; every frame queued in this turn leaves in one write at the end of it. */
  write(frame: Buffer): void {
    this.queued.push(frame);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes a frame now, after whatever is queued (frames never overtake each other). */
  writeNow(frame: Buffer): void {
    this.queued.push(frame);
    this.flush();
  }

  /** Removes and returns the queued frames, for a caller that must write them synchronously. */
  take(): Buffer[] {
    const queued = this.queued;
    this.queued = [];
    return queued;
  }

  /** Writes whatever is queued. */
  flush(): void {
    this.scheduled = false;
    const queued = this.take();
    if (queued.length === 0) return;
    this.sink.write(queued.length === 1 ? queued[0]! : Buffer.concat(queued));
  }
}

/**
 * Turns a byte stream back into frames. Handles frames split across chunks and many frames per chunk
 * without re-copying the whole backlog on every chunk (a 6 MiB result arrives in ~100 chunks).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed = false;

  /**
   * @param onFrame receives each complete frame's parsed JSON.
   * @param onError called once when the stream is corrupt (absurd length or invalid JSON); the decoder
   *   ignores everything after that, since a framed stream cannot resynchronise.
   * @param maxFrameBytes frames longer than this are rejected.
   */
  constructor(
    private readonly onFrame: (message: unknown) => void,
    private readonly onError: (reason: string) => void,
    private readonly maxFrameBytes = MAX_FRAME_BYTES,
  ) {}

  /** Feeds bytes read from the channel. */
  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (this.buffered >= 4) {
      const length = this.peekLength();
      if (length > this.maxFrameBytes) {
        this.fail(`frame of ${length} bytes is over the limit of ${this.maxFrameBytes} bytes`);
        return;
      }
      if (this.buffered < 4 + length) return;
      const body = this.take(4 + length).subarray(4);
      let message: unknown;
      try {
        message = JSON.parse(body.toString('utf8'));
      } catch (err) {
        this.fail(`frame is not valid JSON: ${(err as Error).message}`);
        return;
      }
      this.onFrame(message);
      // onFrame may have torn the channel down (e.g. a kill); stop feeding a dead consumer.
      if (this.failed) return;
    }
  }

  /** Bytes received but not yet part of a complete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  private fail(reason: string): void {
    this.failed = true;
    this.chunks = [];
    this.buffered = 0;
    this.onError(reason);
  }

  private peekLength(): number {
    let first = this.chunks[0] as Buffer;
    // The 4-byte header itself is split across chunks (rare): merge chunks until it is whole.
    while (first.length < 4) {
      first = Buffer.concat([first, this.chunks[1] as Buffer]);
      this.chunks.splice(0, 2, first);
    }
    return first.readUInt32BE(0);
  }

  /** Removes and returns the first `n` bytes (n <= buffered). */
  private take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) {
      this.chunks[0] = first.subarray(n);
      if (this.chunks[0].length === 0) this.chunks.shift();
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0] as Buffer;
      const want = n - filled;
      if (chunk.length <= want) {
        chunk.copy(out, filled);
        filled += chunk.length;
        this.chunks.shift();
      } else {
        chunk.copy(out, filled, 0, want);
        this.chunks[0] = chunk.subarray(want);
        filled += want;
      }
    }
    this.buffered -= n;
    return out;
  }
}

/**
 * The per-invocation output budget, shared by the runtime (console) and the host (raw stdout/stderr):
 * a line that fits is kept whole; the line that crosses the limit keeps its head (it usually says what
 * was being printed) and the budget is then spent; everything after is dropped and counted.
 * Returns the text to keep (undefined for none), the bytes it uses (with its newline) and the bytes
 * dropped.
 */
export function fitLine(
  msg: string,
  roomBytes: number,
): { kept: string | undefined; usedBytes: number; droppedBytes: number } {
  const bytes = Buffer.byteLength(msg) + 1;
  if (bytes <= roomBytes) return { kept: msg, usedBytes: bytes, droppedBytes: 0 };
  if (roomBytes <= 1) return { kept: undefined, usedBytes: 0, droppedBytes: bytes };
  const kept = Buffer.from(msg)
    .subarray(0, roomBytes - 1)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
  const usedBytes = Buffer.byteLength(kept) + 1;
  return { kept, usedBytes, droppedBytes: bytes - usedBytes };
}
