/**
 * The `isolate` sandbox tier: each instance is a V8 isolate (isolated-vm) inside the host process,
 * with its own heap limit and only the APIs Kindling installs (console, timers, crypto.getRandomValues,
 * TextEncoder/TextDecoder, URL, and `fetch` for a spec with `network: true`, made by the host: see
 * fetch-bridge.ts).
 *
 * Start = sandbox (isolate + context) → runtime (bootstrap: globals and driver) → init (the user's
 * module). The bootstrap's compiled code is cached once per tier and reused by every isolate.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import ivm from 'isolated-vm';
import { KindlingError } from '../../core/errors.js';
import type { InstanceSpec, SandboxInstance, SandboxTier } from '../tier.js';
import { IsolateInstance } from './isolate-instance.js';
import { abortError, fromDriver, initTimeoutError, loadError, memoryLimitError } from './isolate-errors.js';
import type { IsolateLabel } from './isolate-errors.js';
import { BOOTSTRAP_SOURCE } from './runtime/bootstrap.js';
import type { BootstrapConfig, DriverLoadResult, DriverLogs } from './runtime/bootstrap.js';
import { FetchBridge } from './fetch-bridge.js';
import type { FetchRequestWire } from './fetch-bridge.js';
import { hostParseUrl } from './url-bridge.js';

/** isolated-vm refuses a smaller `memoryLimit`. */
export const MIN_ISOLATE_MEMORY_MB = 8;
const DEFAULT_INIT_TIMEOUT_MS = 10_000;

/** Options of {@link createIsolateTier}. */
export interface IsolateTierOptions {
  /** Init timeout when the spec gives none (ms, default 10 000). */
  initTimeoutMs?: number;
}

/** Creates the isolate tier. */
export function createIsolateTier(options: IsolateTierOptions = {}): SandboxTier {
  const instances = new Set<IsolateInstance>();
  let closed = false;
  let codeCache: ivm.ExternalCopy<ArrayBuffer> | undefined;

  async function start(spec: InstanceSpec, signal?: AbortSignal): Promise<SandboxInstance> {
    if (closed)
      throw new KindlingError('KINDLING_UNAVAILABLE', 'the isolate tier is closed; no new instances start');
    if (signal?.aborted) throw abortError(signal.reason, `start of instance ${spec.instanceId} was aborted`);
    validate(spec);
    const label: IsolateLabel = {
      instanceId: spec.instanceId,
      functionName: spec.functionName,
      memoryMb: spec.memoryMb,
      readSourceMap: sourceMapReader(spec),
    };
    const readStarted = performance.now();
    let source: string;
    try {
      source = await readFile(join(spec.codeDir, spec.entry), 'utf8');
    } catch (err) {
      throw loadError(label, spec.entry, err);
    }
    const readMs = performance.now() - readStarted;

    const t0 = performance.now();
    const isolate = new ivm.Isolate({ memoryLimit: spec.memoryMb });
    const context = isolate.createContextSync();
    const t1 = performance.now();

    // The bridge's callbacks find the instance through this variable: it exists before user code runs.
    const bridge: { instance?: IsolateInstance; fetch?: FetchBridge } = {};
    const script = isolate.compileScriptSync(BOOTSTRAP_SOURCE, {
      filename: 'kindling:runtime',
      ...(codeCache ? { cachedData: codeCache } : { produceCachedData: true }),
    });
    // isolated-vm's typings omit the cache it attaches to the script when asked to produce one.
    const produced = (script as ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer> }).cachedData;
    if (!codeCache && produced) codeCache = produced;
    const factory = script.runSync(context, { reference: true }) as ivm.Reference;
    const config: BootstrapConfig = {
      entry: spec.entry,
      functionName: spec.functionName,
      functionVersion: spec.functionVersion,
      memoryMb: spec.memoryMb,
      logLimitBytes: spec.logLimitBytes,
      env: spec.env,
    };
    const driver = factory.applySync(
      undefined,
      [
        new ivm.Callback((id: number, ms: number) => bridge.instance?.schedule(id, ms), { ignored: true }),
        new ivm.Callback((id: number) => bridge.instance?.cancel(id), { ignored: true }),
        new ivm.Callback((n: number) => new Uint8Array(randomBytes(n)), { sync: true }),
        new ivm.Callback(hostParseUrl, { sync: true }),
        // No network: no callback at all, so nothing in the isolate can reach the host's fetch.
        spec.network === true
          ? new ivm.Callback(
              (id: number, req: FetchRequestWire, deadline: number | null) =>
                bridge.fetch?.start(id, req, deadline),
              { ignored: true },
            )
          : undefined,
        new ivm.ExternalCopy(config).copyInto(),
      ],
      { result: { reference: true } },
    ) as ivm.Reference;
    const ref = (name: string): ivm.Reference => driver.getSync(name, { reference: true }) as ivm.Reference;
    if (spec.network === true) {
      const settleRef = ref('settleFetch');
      bridge.fetch = new FetchBridge(
        async (id, result) => {
          const logs = (await settleRef.apply(undefined, [id, result], {
            arguments: { copy: true },
            result: { copy: true },
          })) as DriverLogs;
          bridge.instance?.addInstanceLogs(logs);
        },
        () => isolate.isDisposed,
      );
    }
    const created = new IsolateInstance({
      isolate,
      context,
      invokeRef: ref('invoke'),
      fireRef: ref('fireTimer'),
      label,
      logLimitBytes: spec.logLimitBytes,
      onEnd: () => {
        bridge.fetch?.close(); // requests in flight stop with the instance
        instances.delete(created);
      },
    });
    bridge.instance = created;
    instances.add(created);
    const t2 = performance.now();

    const initTimeoutMs = spec.initTimeoutMs ?? options.initTimeoutMs ?? DEFAULT_INIT_TIMEOUT_MS;
    let failure: KindlingError | undefined;
    const fail = (err: KindlingError): void => {
      failure ??= err;
      created.end('stopped', () => err);
    };
    const timer = setTimeout(() => fail(initTimeoutError(label, initTimeoutMs)), initTimeoutMs);
    const onAbort = (): void =>
      fail(abortError(signal?.reason, `start of instance ${spec.instanceId} was aborted`));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result =
        extname(spec.entry) === '.mjs'
          ? await loadEsm(isolate, context, driver, ref, sourceName(spec), source)
          : await loadCjs(isolate, context, ref, sourceName(spec), source);
      created.addInstanceLogs(result.instance);
      if (!result.ok) {
        throw result.memory ? memoryLimitError(label, undefined) : fromDriver(result, label);
      }
    } catch (err) {
      // Why it failed, most telling first: what the host decided, a memory disposal, a timer crash.
      let error: KindlingError;
      if (failure) error = failure;
      else if (KindlingError.is(err)) error = err;
      else if (created.endReason === 'crashed')
        error = loadError(label, spec.entry, (await created.exited).stderrTail);
      else if (isolate.isDisposed) error = memoryLimitError(label, undefined);
      else error = loadError(label, spec.entry, err);
      created.end('stopped', () => error);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
    const t3 = performance.now();
    created.ready({
      sandboxMs: t1 - t0,
      runtimeMs: t2 - t1,
      initMs: t3 - t2 + readMs,
      startPath: 'plain',
    });
    return created;
  }

  return {
    name: 'isolate',
    start,
    async close(): Promise<void> {
      closed = true;
      await Promise.all([...instances].map((instance) => instance.stop()));
    },
  };
}

/** The module's name in stack traces: `<function>/<file>`, as the other tiers show it. */
function sourceName(spec: InstanceSpec): string {
  return `${spec.functionName}/${spec.entry}`;
}

/**
 * Reads the map beside a file the instance's frames name `<function>/<file>` (see {@link sourceName})
 * from its code directory. A frame is text the function controls (it can set `err.stack`), so a
 * name that leaves the code directory reads nothing.
 */
function sourceMapReader(spec: InstanceSpec): (file: string) => string | undefined {
  const prefix = `${spec.functionName}/`;
  const codeDir = resolve(spec.codeDir);
  return (file) => {
    if (!file.startsWith(prefix)) return undefined;
    const path = resolve(codeDir, `${file.slice(prefix.length)}.map`);
    if (relative(codeDir, path).startsWith('..')) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined; // not a bundle, or built without a map
    }
  };
}

/** Rejects specs this tier cannot run, with the fix in the message. */
function validate(spec: InstanceSpec): void {
  if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < MIN_ISOLATE_MEMORY_MB) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `memoryMb ${spec.memoryMb} is below the isolate tier's minimum of ${MIN_ISOLATE_MEMORY_MB} MiB (isolated-vm's smallest heap); raise memoryMb`,
      { memoryMb: spec.memoryMb, minMemoryMb: MIN_ISOLATE_MEMORY_MB },
    );
  }
  if (!['.cjs', '.js', '.mjs'].includes(extname(spec.entry))) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `entry ${spec.entry} is not JavaScript the isolate tier can load (.cjs, .js or .mjs); deploy a bundle`,
      { entry: spec.entry },
    );
  }
}

// Wrapped on one line with the module's first line, so stack traces keep the module's line numbers.
const CJS_HEAD = '(function (exports, require, module, __filename, __dirname) {';

/** Compiles a CommonJS module as a function and lets the driver run it with `module`/`exports`. */
async function loadCjs(
  isolate: ivm.Isolate,
  context: ivm.Context,
  ref: (name: string) => ivm.Reference,
  entry: string,
  source: string,
): Promise<DriverLoadResult> {
  const script = await isolate.compileScript(`${CJS_HEAD}${source}\n})`, { filename: entry });
  const fn = (await script.run(context, { reference: true })) as ivm.Reference;
  return (await ref('loadCjs').apply(undefined, [fn.derefInto()], {
    result: { copy: true },
  })) as DriverLoadResult;
}

/**
 * Loads an ES module. isolated-vm's `evaluate()` does not wait for top-level await, so a wrapper
 * module imports a one-use signal module first (which takes the driver's callback off `globalThis`
 * before user code runs), then the user's module, and calls the signal once that has finished.
 */
async function loadEsm(
  isolate: ivm.Isolate,
  context: ivm.Context,
  driver: ivm.Reference,
  ref: (name: string) => ivm.Reference,
  entry: string,
  source: string,
): Promise<DriverLoadResult> {
  const key = `__kindlingLoaded_${randomBytes(8).toString('hex')}`;
  await context.global.set(
    key,
    (driver.getSync('esmLoaded', { reference: true }) as ivm.Reference).derefInto(),
  );
  const user = await isolate.compileModule(source, { filename: entry });
  const signal = await isolate.compileModule(
    `const loaded = globalThis[${JSON.stringify(key)}]; delete globalThis[${JSON.stringify(key)}]; export { loaded };`,
    { filename: 'kindling:signal' },
  );
  const wrapper = await isolate.compileModule(
    'import { loaded } from "kindling:signal"; import * as ns from "kindling:user"; loaded(ns);',
    { filename: 'kindling:entry' },
  );
  await wrapper.instantiate(context, (specifier, referrer) => {
    if (referrer === wrapper && specifier === 'kindling:signal') return signal;
    if (referrer === wrapper && specifier === 'kindling:user') return user;
    throw new Error(
      `import "${specifier}": the isolate tier has no Node modules or file system; bundle the dependency ` +
        'into the function, or deploy it with tier: "process"',
    );
  });
  await wrapper.evaluate();
  return (await ref('awaitEsm').apply(undefined, [], {
    result: { promise: true, copy: true },
  })) as DriverLoadResult;
}
