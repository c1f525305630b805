/**
 * The errors an isolate instance's starts and invocations get: one place for the wording, so every
 * message states what happened, the limit and the fix.
 */
import { ERROR_STATUS, KindlingError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/errors.js';
import type { DriverFailure } from './runtime/bootstrap.js';
import { noHandlerMessage, userStack, type ModuleKind } from '../process/user-errors.cjs';

/** Who the instance is, for messages. */
export interface IsolateLabel {
  instanceId: string;
  functionName: string;
  memoryMb: number;
  /**
   * The source map of a file the instance's stack frames name (`<function>/<file>`), to point them
   * at the author's sources; one reader per instance (it keys the mapped frames' cache).
   */
  readSourceMap?: (file: string) => string | undefined;
}

/**
 * A failure reported by the in-isolate driver, as a KindlingError. A missing handler is worded here,
 * as the other tiers word it, from the exports the driver found.
 */
export function fromDriver(failure: DriverFailure, label?: IsolateLabel): KindlingError {
  const code = (failure.code in ERROR_STATUS ? failure.code : 'KINDLING_INTERNAL') as ErrorCode;
  const d = failure.details;
  if (code === 'KINDLING_NO_HANDLER' && label && d) {
    const { exportTypes, moduleKind, ...details } = d as {
      exportTypes: Record<string, string>;
      moduleKind: ModuleKind;
      entry: string;
    };
    const entry = `${label.functionName}/${details.entry}`;
    return new KindlingError(code, noHandlerMessage(entry, exportTypes, moduleKind), {
      ...details,
      entry,
      moduleKind,
    });
  }
  return new KindlingError(code, failure.message, withSourcePositions(failure.details, label));
}

/** `details` with its stack's frames pointing at the author's sources, where the bundle has a map. */
function withSourcePositions(
  details: DriverFailure['details'],
  label: IsolateLabel | undefined,
): DriverFailure['details'] {
  const stack = details?.stack;
  if (typeof stack !== 'string' || !label?.readSourceMap) return details;
  const where = {
    codeDir: label.functionName,
    functionName: label.functionName,
    // The driver's own frames (`at invoke (kindling:runtime:555:34)`) are below the author's code.
    runtimeFiles: ['kindling:runtime'],
    readSourceMap: label.readSourceMap,
  };
  return { ...details, stack: userStack(stack, where) };
}

/**
 * KINDLING_MEMORY_LIMIT. isolated-vm disposes an isolate whose heap reaches `memoryLimit` and gives
 * no figure, so "used" is the limit it reached (or, for a refused ArrayBuffer, what was in use then).
 */
export function memoryLimitError(label: IsolateLabel, usedBytes: number | undefined): KindlingError {
  const usedMb = Math.max(label.memoryMb, Math.ceil((usedBytes ?? 0) / (1024 * 1024)));
  return new KindlingError(
    'KINDLING_MEMORY_LIMIT',
    `function "${label.functionName}" used ${usedMb} MiB or more of its isolate's memory, reaching its limit of ` +
      `${label.memoryMb} MiB (JavaScript heap and ArrayBuffers count); raise memoryMb or use less memory. ` +
      `Instance ${label.instanceId} was disposed and will be replaced.`,
    { usedMb, limitMb: label.memoryMb, kind: 'isolate', instanceId: label.instanceId },
  );
}

/** KINDLING_TIMEOUT for the invocation that ran past its limit. */
export function timeoutError(label: IsolateLabel, requestId: string, timeoutMs: number): KindlingError {
  return new KindlingError(
    'KINDLING_TIMEOUT',
    `invocation ${requestId} of function "${label.functionName}" did not finish within its timeout of ${timeoutMs} ms; ` +
      `instance ${label.instanceId} was disposed and will be replaced. Raise timeoutMs or make the handler faster.`,
    { timeoutMs, requestId, instanceId: label.instanceId },
  );
}

/** KINDLING_INSTANCE_CRASHED for work in flight on an instance that ended for another reason. */
export function collateralError(label: IsolateLabel, why: string): KindlingError {
  return new KindlingError(
    'KINDLING_INSTANCE_CRASHED',
    `instance ${label.instanceId} of function "${label.functionName}" ended while this invocation was running: ${why}`,
    { instanceId: label.instanceId },
  );
}

/** KINDLING_INSTANCE_CRASHED for an invocation sent to an instance that has ended. */
export function notRunningError(label: IsolateLabel): KindlingError {
  return new KindlingError(
    'KINDLING_INSTANCE_CRASHED',
    `instance ${label.instanceId} is not running; invoke another instance`,
    { instanceId: label.instanceId },
  );
}

/** KINDLING_INIT_FAILED when the module did not finish loading in time. */
export function initTimeoutError(label: IsolateLabel, initTimeoutMs: number): KindlingError {
  return new KindlingError(
    'KINDLING_INIT_FAILED',
    `function "${label.functionName}" did not finish loading within its init timeout of ${initTimeoutMs} ms; ` +
      'make its top-level code faster (or raise initTimeoutMs). The isolate was disposed. (A top-level await ' +
      'that rejects also ends here: isolated-vm does not report the rejection of an ES module.)',
    { initTimeoutMs, instanceId: label.instanceId },
  );
}

/** KINDLING_INIT_FAILED for a module that does not compile or imports something. */
export function loadError(label: IsolateLabel, entry: string, err: unknown): KindlingError {
  const message = err instanceof Error ? err.message : String(err);
  return new KindlingError(
    'KINDLING_INIT_FAILED',
    `loading ${entry} for function "${label.functionName}" failed: ${message}`,
    { entry, instanceId: label.instanceId, stack: err instanceof Error ? err.stack : undefined },
  );
}

/** The error for an aborted start or invocation: the abort reason itself when it is a KindlingError. */
export function abortError(reason: unknown, message: string): KindlingError {
  if (KindlingError.is(reason)) return reason;
  return new KindlingError('KINDLING_UNAVAILABLE', message, undefined, { cause: reason });
}
