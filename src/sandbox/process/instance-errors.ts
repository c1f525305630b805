/**
 * Why a process instance ended, and the errors its starts and invocations get: one place for the
 * wording, so every message states what happened, the limit and the fix.
 */
import { KindlingError } from '../../core/errors.js';
import type { ExitInfo } from '../tier.js';
import type { FatalMessage } from './protocol.cjs';

/** Why the host itself ended an instance. */
export type KillReason = 'stopped' | 'timeout' | 'memory' | 'crashed';

/** What the host knows once the process is gone. */
export interface ExitFacts {
  code: number | null;
  signal: string | null;
  /** Set when the host killed the process on purpose. */
  killReason: KillReason | undefined;
  /** The runtime's last word before an uncaught exception or unhandled rejection ended it. */
  fatal: FatalMessage | undefined;
  stderrTail: string;
  /** Why the host's end of the channel failed, if it did (EPIPE while the child died). */
  channelError?: string | undefined;
}

/** Who the instance is, for messages. */
export interface InstanceLabel {
  instanceId: string;
  functionName: string;
  memoryMb: number;
  heapMb: number;
}

const MIB = 1024 * 1024;

/**
 * True when V8 aborted because the heap hit its limit. The process exits with SIGABRT and V8 prints a
 * fixed banner to stderr; there is no other signal of it, so this is the one place that reads text.
 */
export function isHeapOutOfMemory(stderrTail: string): boolean {
  return /heap out of memory|Reached heap limit/.test(stderrTail);
}

/** The `reason` of an ExitInfo. */
export function exitReason(facts: ExitFacts): ExitInfo['reason'] {
  if (facts.killReason) return facts.killReason;
  if (isHeapOutOfMemory(facts.stderrTail)) return 'memory';
  if (facts.fatal || facts.signal) return 'crashed';
  return 'exited';
}

/** The last `n` non-empty lines of a text. */
export function lastLines(text: string, n = 10): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-n)
    .join('\n');
}

/** Describes how the process ended, e.g. "exited with code 3" or "crashed with an uncaught exception: boom". */
export function describeExit(facts: ExitFacts): string {
  if (facts.fatal) {
    const what =
      facts.fatal.origin === 'unhandledRejection'
        ? 'an unhandled promise rejection'
        : 'an uncaught exception';
    return `crashed (${what}: ${facts.fatal.message})`;
  }
  if (facts.signal) return `was killed by ${facts.signal}`;
  return `exited with code ${facts.code}${facts.code === 0 ? ' (process.exit() was called)' : ''}`;
}

/** KINDLING_INSTANCE_CRASHED for work that was in flight when the process ended by itself. */
export function crashError(
  label: InstanceLabel,
  facts: ExitFacts,
  during: 'invocation' | 'start',
): KindlingError {
  const tail = lastLines(facts.stderrTail);
  const message =
    `instance ${label.instanceId} of function "${label.functionName}" ${describeExit(facts)} ` +
    (during === 'start' ? 'while loading the function' : 'while this invocation was running') +
    (tail ? `; last stderr lines:\n${tail}` : '; it wrote nothing to stderr');
  const details = {
    instanceId: label.instanceId,
    exitCode: facts.code,
    signal: facts.signal,
    stderrTail: tail,
    ...(facts.channelError ? { channelError: facts.channelError } : {}),
    ...(facts.fatal
      ? { errorMessage: facts.fatal.message, stack: facts.fatal.stack, origin: facts.fatal.origin }
      : {}),
  };
  return new KindlingError(
    during === 'start' ? 'KINDLING_INIT_FAILED' : 'KINDLING_INSTANCE_CRASHED',
    message,
    details,
  );
}

/** KINDLING_MEMORY_LIMIT when the RSS watchdog saw the process over its limit. */
export function rssLimitError(label: InstanceLabel, rssBytes: number): KindlingError {
  const usedMb = Math.ceil(rssBytes / MIB);
  return new KindlingError(
    'KINDLING_MEMORY_LIMIT',
    `function "${label.functionName}" used ${usedMb} MiB, over its limit of ${label.memoryMb} MiB; raise memoryMb ` +
      `or use less memory (Buffers and other off-heap memory count too). Instance ${label.instanceId} was killed and will be replaced.`,
    { usedMb, limitMb: label.memoryMb, kind: 'rss', instanceId: label.instanceId },
  );
}

/**
 * KINDLING_MEMORY_LIMIT when V8 ran out of heap: the heap's share of memoryMb (see memory.ts), which
 * is all the process may use for JavaScript objects.
 */
export function heapLimitError(label: InstanceLabel, peakRssBytes: number): KindlingError {
  const peakRssMb = Math.ceil(peakRssBytes / MIB);
  return new KindlingError(
    'KINDLING_MEMORY_LIMIT',
    `function "${label.functionName}" used ${label.heapMb} MiB of JavaScript heap, all that its memory limit of ` +
      `${label.memoryMb} MiB allows (the rest is for Node itself and Buffers); raise memoryMb or use less memory. ` +
      `Instance ${label.instanceId} ended and will be replaced.`,
    {
      usedMb: label.heapMb,
      limitMb: label.memoryMb,
      heapLimitMb: label.heapMb,
      ...(peakRssMb > 0 ? { peakRssMb } : {}),
      kind: 'heap',
      instanceId: label.instanceId,
    },
  );
}

/** KINDLING_TIMEOUT for the invocation that ran past its limit. */
export function timeoutError(label: InstanceLabel, requestId: string, timeoutMs: number): KindlingError {
  return new KindlingError(
    'KINDLING_TIMEOUT',
    `invocation ${requestId} of function "${label.functionName}" did not finish within its timeout of ${timeoutMs} ms; ` +
      `instance ${label.instanceId} was killed and will be replaced. Raise timeoutMs or make the handler faster.`,
    { timeoutMs, requestId, instanceId: label.instanceId },
  );
}

/** KINDLING_INSTANCE_CRASHED for bystanders: invocations in flight on an instance the host killed. */
export function collateralError(label: InstanceLabel, why: string): KindlingError {
  return new KindlingError(
    'KINDLING_INSTANCE_CRASHED',
    `instance ${label.instanceId} of function "${label.functionName}" was killed while this invocation was running: ${why}`,
    { instanceId: label.instanceId },
  );
}

/** KINDLING_INIT_FAILED when the module did not finish loading in time. */
export function initTimeoutError(label: InstanceLabel, initTimeoutMs: number): KindlingError {
  return new KindlingError(
    'KINDLING_INIT_FAILED',
    `function "${label.functionName}" did not finish loading within its init timeout of ${initTimeoutMs} ms; ` +
      'make its top-level code faster (or raise initTimeoutMs). The instance was killed.',
    { initTimeoutMs, instanceId: label.instanceId },
  );
}

/** KINDLING_INIT_FAILED when no process could be created at all (bad node path, missing codeDir). */
export function spawnFailedError(
  label: InstanceLabel,
  codeDir: string,
  cause: Error | undefined,
): KindlingError {
  return new KindlingError(
    'KINDLING_INIT_FAILED',
    `could not start a process for instance ${label.instanceId} in ${codeDir}: ${cause?.message ?? 'unknown error'}`,
    { instanceId: label.instanceId, codeDir },
    { cause },
  );
}

/** The error for an aborted start or invocation: the abort reason itself when it is a KindlingError. */
export function abortError(reason: unknown, message: string): KindlingError {
  if (KindlingError.is(reason)) return reason;
  return new KindlingError('KINDLING_UNAVAILABLE', message, undefined, { cause: reason });
}

/** Why an invocation cannot even be sent, or undefined when it can. */
export function invokeRefusal(
  label: InstanceLabel,
  alive: boolean,
  duplicate: boolean,
): KindlingError | undefined {
  if (!alive) {
    return new KindlingError(
      'KINDLING_INSTANCE_CRASHED',
      `instance ${label.instanceId} is not running; invoke another instance`,
    );
  }
  if (duplicate) {
    return new KindlingError(
      'KINDLING_CONFLICT',
      `a request with this id is already running on ${label.instanceId}`,
    );
  }
  return undefined;
}
