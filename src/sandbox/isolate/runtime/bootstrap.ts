/**
 * The bootstrap script run in every new isolate: one function, assembled from the fragments beside
 * this file, that receives the host bridge and the instance's config, installs Kindling's globals
 * and returns the driver. Bridge functions stay in the function's scope, never on `globalThis`, so
 * user code cannot call them directly.
 */
import { CONSOLE_SOURCE } from './console.js';
import { DRIVER_SOURCE } from './driver.js';
import { ENCODING_SOURCE } from './encoding.js';
import { FETCH_SOURCE } from './fetch.js';
import { GLOBALS_SOURCE } from './globals.js';
import { URL_SOURCE } from './url.js';

/**
 * Source of `(function (schedule, cancel, random, parseUrl, fetchStart, config) { … return driver; })`.
 * `fetchStart` is undefined for a function without network access: then no `fetch` is installed.
 */
export const BOOTSTRAP_SOURCE =
  "(function kindlingBootstrap(schedule, cancel, random, parseUrl, fetchStart, config) {\n'use strict';\n" +
  ENCODING_SOURCE +
  URL_SOURCE +
  CONSOLE_SOURCE +
  GLOBALS_SOURCE +
  FETCH_SOURCE +
  DRIVER_SOURCE +
  '\n})';

/** What the bootstrap receives as `config` (copied into the isolate). */
export interface BootstrapConfig {
  entry: string;
  functionName: string;
  functionVersion: number;
  memoryMb: number;
  logLimitBytes: number;
  env: Record<string, string>;
}

/** One captured line as the driver returns it. */
export interface DriverLine {
  t: number;
  level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  msg: string;
}

/** Lines the driver kept for the instance (module top level, timers, unattributable console calls). */
export interface DriverLogs {
  lines: DriverLine[];
  dropped: number;
}

/** A failure as the driver reports it; `memory` marks an ArrayBuffer allocation refused at the limit. */
export interface DriverFailure {
  ok: false;
  code: string;
  message: string;
  details?: Record<string, unknown>;
  memory?: boolean;
}

/** What `loadCjs` / `awaitEsm` return. */
export type DriverLoadResult = ({ ok: true; shape: string } | DriverFailure) & { instance: DriverLogs };

/** What `invoke` returns. */
export type DriverInvokeResult = ({ ok: true; json: string } | DriverFailure) & {
  logs: DriverLine[];
  dropped: number;
  instance: DriverLogs;
};

/** What `fireTimer` returns. */
export interface DriverTimerResult {
  error?: { errorType: string; message: string; stack?: string; memory: boolean };
  instance: DriverLogs;
}
