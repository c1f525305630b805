/**
 * The sandbox seam. A tier turns a function's materialised code into running instances; the worker's
 * pool decides when to start, reuse and stop them. Every tier passes the same compliance suite
 * (test/sandbox/compliance.ts).
 */
import type { KindlingError } from '../core/errors.js';

/** Names of the sandbox tiers. */
export type TierName = 'process' | 'isolate' | 'container';

/**
 * How an instance was started; recorded on every cold invocation. `plain`: started from nothing;
 * `stem-cell`: a pre-started generic runtime specialised to the function; `snapshot`: restored from
 * a V8 startup snapshot of the initialised function; `runtime-snapshot`: restored from a snapshot of
 * the runtime alone, then the function loaded; `prepared`: a container whose bundle was prepared
 * before the request.
 */
export type StartPath = 'plain' | 'stem-cell' | 'snapshot' | 'runtime-snapshot' | 'prepared';

/** Everything a tier needs to start one instance of one function version. */
export interface InstanceSpec {
  /** Unique id of the instance (also used in logs and the invocation record). */
  instanceId: string;
  functionName: string;
  functionVersion: number;
  /** Absolute path of the directory holding the function's files (the materialised image). */
  codeDir: string;
  /** Path of the entry module, relative to `codeDir`. */
  entry: string;
  /** Environment variables the handler sees (on top of a minimal base the tier provides). */
  env: Record<string, string>;
  /** Memory limit in MiB: the tier enforces it (V8 heap limit plus an RSS watchdog for `process`). */
  memoryMb: number;
  /** Maximum concurrent invocations the instance is asked to run at once. */
  concurrency: number;
  /** Bytes of console output kept per invocation; the rest is dropped and counted. */
  logLimitBytes: number;
  /**
   * Whether the function may use the network. The isolate tier offers `fetch` only when true; the
   * process tier cannot take the network away; the container tier keeps loopback only (for now).
   */
  network?: boolean;
  /**
   * Milliseconds the function's module may take to load (its top-level code) before the start fails
   * with KINDLING_INIT_FAILED and the instance is killed. Optional: the tier has a default (10 s).
   */
  initTimeoutMs?: number;
  /**
   * Set while `codeDir` is a lazily loaded image still missing files: the tier may let the function
   * read them on demand (the process tier does; see `process/fault-in.cts`). Tiers that cannot see
   * the function's file reads ignore it, and files appear there as the background fetch writes them.
   */
  pending?: PendingFiles;
}

/** The files of a lazily loaded image that are not written yet, and how to get them now. */
export interface PendingFiles {
  /**
   * Path, relative to `codeDir`, of a file in it holding the JSON array of their paths (relative to
   * `codeDir`, as the image lists them); removed once the image is complete (then nothing is pending).
   */
  listFile: string;
  /**
   * Fetches and writes these files (relative paths; others are ignored) into `codeDir` ahead of
   * the background, each renamed into place whole. Resolves once they are there; never rejects
   * (failures go to the host's error log, and the function then sees the file missing).
   */
  fetch(paths: readonly string[]): Promise<void>;
}

/** Where the time of starting an instance went, in milliseconds, as seen by the host. */
export interface StartTimings {
  /** Creating the sandbox (process spawn). */
  sandboxMs: number;
  /** The runtime starting inside it, up to the point where user code is loaded. */
  runtimeMs: number;
  /** Loading the user's module (its top-level code). */
  initMs: number;
  startPath: StartPath;
}

/** One invocation as handed to an instance. */
export interface InvokeRequest {
  requestId: string;
  /** The JSON event. */
  event: unknown;
  /** Milliseconds the handler may run before the instance is killed and KINDLING_TIMEOUT returned. */
  timeoutMs: number;
  /** Optional cancellation: aborting kills the instance (the only safe way to stop a running handler). */
  signal?: AbortSignal;
}

/** One captured console line. */
export interface LogLine {
  /** Milliseconds since the epoch. */
  t: number;
  level: 'log' | 'info' | 'warn' | 'error' | 'debug' | 'stdout' | 'stderr';
  msg: string;
}

/** What an invocation produced. */
export type InvokeOutcome =
  | { ok: true; result: unknown; execMs: number; logs: LogLine[]; logsDroppedBytes: number }
  | { ok: false; error: KindlingError; execMs: number; logs: LogLine[]; logsDroppedBytes: number };

/** Why an instance ended. */
export interface ExitInfo {
  /** `stopped` = asked to stop; the others are failures. */
  reason: 'stopped' | 'crashed' | 'timeout' | 'memory' | 'exited';
  code: number | null;
  signal: string | null;
  /** Last lines the runtime wrote to stderr, for diagnosis. */
  stderrTail: string;
  /**
   * How it ended, in words (`crashed (an unhandled promise rejection: boom)`), and whether nothing
   * was running in it then: a crash after its last answer (a promise left to reject) tells no
   * invocation, so the pool reports it. Absent where the tier does not know.
   */
  description?: string;
  idle?: boolean;
}

/** A running instance. */
export interface SandboxInstance {
  readonly id: string;
  readonly tier: TierName;
  /** OS process id, when the tier has one. */
  readonly pid: number | undefined;
  readonly timings: StartTimings;
  /** Invocations currently running inside. */
  readonly inflight: number;
  /** False once the instance has exited or is stopping; never invoke it then. */
  readonly alive: boolean;
  /**
   * Runs one invocation. Never rejects: failures come back as `{ ok: false }`. A timeout, a memory
   * overrun or a crash also ends the instance (then `exited` resolves).
   */
  invoke(req: InvokeRequest): Promise<InvokeOutcome>;
  /** Stops the instance (SIGKILL for processes). Idempotent. */
  stop(): Promise<void>;
  /** Resolves once, when the instance has ended for any reason. */
  readonly exited: Promise<ExitInfo>;
  /** Resident memory in bytes right now, when measurable. */
  memoryBytes(): number | undefined;
  /**
   * Output that belongs to no single invocation (module top-level code; raw stdout/stderr written
   * while several or no invocations run), capped at `logLimitBytes`; returns it and starts a new
   * budget. Optional: tiers without such output need not implement it.
   */
  takeInstanceLogs?(): { logs: LogLine[]; droppedBytes: number };
}

/** A sandbox technology. */
export interface SandboxTier {
  readonly name: TierName;
  /**
   * Starts an instance and loads the user's module. Resolves once the handler is ready to run.
   * Rejects with KINDLING_INIT_FAILED (top-level code threw, the process died while loading, or the
   * init timeout passed), KINDLING_NO_HANDLER (the module exports no handler we recognise),
   * KINDLING_MEMORY_LIMIT, KINDLING_INVALID_CONFIG (a spec the tier cannot run) or KINDLING_UNAVAILABLE
   * (`signal` aborted, or the tier closed). A failed start leaves no instance behind.
   */
  start(spec: InstanceSpec, signal?: AbortSignal): Promise<SandboxInstance>;
  /** Stops every instance this tier started and releases shared resources. */
  close(): Promise<void>;
  /**
   * Optional: does ahead of any request what a start of `spec` would otherwise do on the critical
   * path (LightVM's split tool stack: preparation before the request, execution on it), e.g. a
   * container bundle. Idempotent.
   */
  prepare?(spec: InstanceSpec): Promise<void>;
  /**
   * Optional: deletes what the tier derived from code directories that are going away (`codeDirs`)
   * or are already gone, such as snapshots taken after a function's init; with `dryRun`, only counts
   * them. Called by a host's garbage collection (`worker/host-gc.ts`).
   */
  forgetCode?(codeDirs: ReadonlySet<string>, dryRun: boolean): Promise<{ removed: number; bytes: number }>;
}

export type { KindlingError };
