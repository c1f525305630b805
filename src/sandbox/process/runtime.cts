/**
 * The runtime shim: the program each process-tier instance runs (`node dist/src/sandbox/process/runtime.js
 * '<RuntimeConfig JSON>'`). It loads the user's module, finds the handler and runs invocations that
 * arrive as frames on fd 3.
 *
 * Its start-up time IS the cold start, so it imports only a few Node built-ins (measured: `net` costs
 * ~2 ms, the others well under 1 ms) plus the import-free protocol module, creates process.stdout and
 * process.stderr only if the function uses them, and does nothing before `runtime-ready` that could
 * wait. Everything the host knows is passed in argv, so there is no configuration round trip.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { createRequire as CreateRequire } from 'node:module';
import { isUtf8 } from 'node:buffer';
import { readFileSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { format, inspect } from 'node:util';
import type * as FaultInDescendants from './fault-in-descendants.cjs';
import type * as FaultIn from './fault-in.cjs';
import type * as UserErrors from './user-errors.cjs';
import {
  encodeFrame,
  encodeJsonFrame,
  FAULT_FD,
  fitLine,
  FrameDecoder,
  FrameWriter,
  RESULT_LIMIT_BYTES,
} from './protocol.cjs';
import type {
  FaultInConfig,
  InvokeMessage,
  RuntimeConfig,
  RuntimeMessage,
  SpecializeMessage,
  WireError,
  WireLogLine,
} from './protocol.cjs';

type Level = WireLogLine[1];
type Handler = (this: unknown, event: unknown, context: unknown) => unknown;

/** Per-invocation console state, reached through AsyncLocalStorage so concurrent invocations never mix. */
interface Invocation {
  requestId: string;
  /** Bytes kept so far (message + newline), against `logLimitBytes`. */
  used: number;
  dropped: number;
  lines: WireLogLine[];
  pendingBytes: number;
  /** Set once the result is sent: later output (stray timers) is instance output, not this invocation's. */
  done: boolean;
}

// Flush a batch early once it is this big, so one chatty turn does not build a huge frame.
const FLUSH_BYTES = 256 * 1024;
// Keep fatal reports small: they are written synchronously while the process dies.
const FATAL_STACK_CHARS = 8 * 1024;

// Set by boot(): nothing runs at module load, so a V8 startup snapshot can hold this module (and a
// function loaded beside it) without an open channel or patched console inside.
let config!: RuntimeConfig;
let channel!: Socket;
// Results and log batches are coalesced per event-loop turn; lifecycle messages go at once.
let writer!: FrameWriter;
let store!: AsyncLocalStorage<Invocation>;
const written: [number, number] = [0, 0];
const send = (message: RuntimeMessage): void => writer.writeNow(encodeFrame(message));
// A holder rather than a top-level const: an invoke that arrived before loading finished must see
// "no handler", not a temporal-dead-zone ReferenceError.
const loaded: { handler?: { fn: Handler; owner: unknown } | undefined } = {};
/** The user's module when it was loaded before boot (restored from a startup snapshot). */
let preloaded: unknown;
/** user-errors.cjs, once an error needed it (see `userErrors`). */
let userErrorsModule: typeof UserErrors | undefined;
/** In a process restored from a startup snapshot: which lines of its script are which file. */
let scriptRegions: UserErrors.ScriptRegions | undefined;

/**
 * Called by a snapshot's entry script (`snapshot.ts`) while it is built: the runtime and the
 * function run from that one script, and a frame's line there is a line of one of these files.
 */
export function setScriptRegions(script: string, regions: UserErrors.ScriptRegions['regions']): void {
  scriptRegions = { script, regions };
}

/**
 * Starts the runtime: reads the configuration from argv, opens the channel to the host on fd 3,
 * captures console output, reports `runtime-ready`, and loads the function (or, for a stem cell,
 * waits to be told which). `options.preloaded` is the user's module already loaded, as in a process
 * restored from a snapshot taken after the module's top-level code ran.
 */
export function boot(options: { preloaded?: unknown } = {}): void {
  preloaded = options.preloaded;
  // argv[2] when run as `node runtime.cjs CONFIG`; argv[1] when restored from a snapshot (no script).
  const at = process.argv.findIndex((arg, i) => i > 0 && arg.startsWith('{'));
  config = JSON.parse(at > 0 ? process.argv[at]! : '{}') as RuntimeConfig;
  // The user's code should see a plain argv, not the shim's configuration.
  if (at > 0) process.argv.splice(at, 1);
  // Nor the snapshot it was started from: `fork()` passes process.execArgv on, and a child started
  // with `--snapshot-blob` would boot this runtime instead of its own module.
  process.execArgv = withoutSnapshotFlags(process.execArgv);

  channel = new Socket({ fd: 3, readable: true, writable: true });
  writer = new FrameWriter(channel);
  const decoder = new FrameDecoder(
    (message) => {
      const type = (message as { type?: unknown }).type;
      if (type === 'invoke') void invoke(message as InvokeMessage);
      else if (type === 'specialize') specialize(message as SpecializeMessage);
    },
    (reason) => {
      writeSync(2, `kindling runtime: corrupt channel from the host (${reason}); exiting\n`);
      process.exit(70);
    },
  );
  channel.on('data', (chunk: Buffer) => decoder.push(chunk));
  // The host closing fd 3 (or dying) means nobody will ever invoke us again: never outlive the host.
  channel.on('end', () => process.exit(0));
  channel.on('error', () => process.exit(0));

  countWrites('stdout', 0);
  countWrites('stderr', 1);

  store = new AsyncLocalStorage<Invocation>();
  patchConsole();
  process.on('uncaughtExceptionMonitor', reportFatal);
  // Results coalesced in this turn must not be lost when user code calls process.exit().
  process.on('exit', () => {
    const queued = writer.take();
    if (queued.length === 0) return;
    if (channel.writableLength > 0) return void channel.write(Buffer.concat(queued));
    try {
      writeSync(3, Buffer.concat(queued));
    } catch {
      // The host is gone; nobody is left to tell.
    }
  });

  send({ type: 'runtime-ready', uptimeMs: process.uptime() * 1000 });
  if (config.faultIn) faultInFrom(config.faultIn);
  if (!config.stemCell) void loadHandler().then((handler) => (loaded.handler = handler));
}

if (require.main === module) boot();

/**
 * Turns this stem cell into an instance of one function: its environment (replacing, not merging,
 * the generic one it was started with), its working directory, then its code. Only ever once.
 */
function specialize(msg: SpecializeMessage): void {
  if (!config.stemCell) return;
  config.stemCell = false;
  for (const key of Object.keys(process.env)) delete process.env[key];
  Object.assign(process.env, msg.env);
  process.chdir(msg.cwd);
  config.entry = msg.entry;
  config.functionName = msg.functionName;
  config.functionVersion = msg.functionVersion;
  config.logLimitBytes = msg.logLimitBytes;
  send({ type: 'runtime-ready', uptimeMs: process.uptime() * 1000 });
  if (msg.faultIn) faultInFrom(msg.faultIn);
  void loadHandler().then((handler) => (loaded.handler = handler));
}

/** `argv` without `--snapshot-blob FILE` (or `=FILE`). */
export function withoutSnapshotFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--snapshot-blob')
      i++; // and its value
    else if (!argv[i]!.startsWith('--snapshot-blob=')) out.push(argv[i]!);
  }
  return out;
}

/** The image is still arriving: files outside its startup working set are read on demand. */
function faultInFrom(faultIn: FaultInConfig): void {
  // Loaded only here: most starts have their whole image and should not pay for the modules.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
  const { isEsModule } = require('./fault-in.cjs') as typeof FaultIn;
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
  const { installFaultInHere } = require('./fault-in-descendants.cjs') as typeof FaultInDescendants;
  installFaultInHere(
    {
      ...faultIn,
      preload: `${__dirname}/fault-in-preload.cjs`,
      faultFd: FAULT_FD,
      hooks: pathToFileURL(`${__dirname}/fault-in-hooks.cjs`).href,
    },
    () => isEsModule(config.entry, faultIn.root),
  );
}

/**
 * Counts bytes written to process.stdout/stderr (and makes the writes blocking), wrapping the stream
 * lazily on first use: creating the stream objects costs start-up time most functions never need.
 */
function countWrites(name: 'stdout' | 'stderr', index: 0 | 1): void {
  const descriptor = Object.getOwnPropertyDescriptor(process, name);
  const get = descriptor?.get;
  if (!get) return;
  let stream: NodeJS.WriteStream | undefined;
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: descriptor.enumerable ?? false,
    get() {
      if (stream) return stream;
      const real = get.call(process) as NodeJS.WriteStream;
      // Node writes to a pipe asynchronously when it is full, queueing in this process: a function that
      // prints 100 MiB would hold 100 MiB here and hit its memory limit. Blocking writes make it wait
      // for the host, which always drains the pipe (and throws away what is over the log budget).
      (real as unknown as { _handle?: { setBlocking?: (on: boolean) => number } })._handle?.setBlocking?.(
        true,
      );
      const write = real.write as (...args: unknown[]) => boolean;
      real.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
        const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
        written[index] +=
          typeof chunk === 'string'
            ? Buffer.byteLength(chunk, encoding)
            : ((chunk as Uint8Array | null)?.byteLength ?? 0);
        return write.call(this, chunk, ...rest);
      } as NodeJS.WriteStream['write'];
      stream = real;
      return real;
    },
  });
}

/** Routes console output inside an invocation to that invocation; outside one it stays raw stdout/stderr. */
function patchConsole(): void {
  const levels: Level[] = ['log', 'info', 'warn', 'error', 'debug'];
  const target = console as unknown as Record<string, (...args: unknown[]) => void>;
  for (const level of levels) {
    const original = target[level] as (...args: unknown[]) => void;
    target[level] = (...args: unknown[]) => {
      const inv = store.getStore();
      if (inv && !inv.done) record(inv, level, format(...args));
      else original(...args);
    };
  }
  const originalTrace = console.trace;
  console.trace = (...args: unknown[]) => {
    const inv = store.getStore();
    if (!inv || inv.done) return originalTrace(...args);
    const stack = (new Error().stack ?? '').split('\n').slice(2).join('\n');
    record(inv, 'error', `Trace: ${format(...args)}\n${stack}`);
  };
  const originalDir = console.dir;
  console.dir = (value: unknown, options?: object) => {
    const inv = store.getStore();
    if (!inv || inv.done) return originalDir(value, options);
    record(inv, 'log', inspect(value, { customInspect: false, ...options }));
  };
}

/** Keeps a line within the invocation's budget; the rest is counted, never sent. */
function record(inv: Invocation, level: Level, msg: string): void {
  const fit = fitLine(msg, config.logLimitBytes - inv.used);
  if (fit.kept !== undefined) queue(inv, [Date.now(), level, fit.kept], fit.usedBytes);
  inv.dropped += fit.droppedBytes;
  inv.used = fit.droppedBytes === 0 ? inv.used + fit.usedBytes : config.logLimitBytes;
}

const unflushed = new Set<Invocation>();
let flushScheduled = false;

/** Batches lines per event-loop turn: one frame per turn instead of one per console call. */
function queue(inv: Invocation, line: WireLogLine, bytes: number): void {
  inv.lines.push(line);
  inv.pendingBytes += bytes;
  if (inv.pendingBytes >= FLUSH_BYTES) return flush(inv);
  unflushed.add(inv);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(() => {
      flushScheduled = false;
      for (const pending of unflushed) flush(pending);
    });
  }
}

function flush(inv: Invocation): void {
  unflushed.delete(inv);
  if (inv.lines.length === 0) return;
  writer.write(encodeFrame({ type: 'log', requestId: inv.requestId, lines: inv.lines }));
  inv.lines = [];
  inv.pendingBytes = 0;
}

/**
 * The error-wording module, loaded the first time an error is formatted: a cold start that goes well
 * never reads it. Through `createRequire` for the same reason as {@link requireUser}.
 */
function userErrors(): typeof UserErrors {
  if (!userErrorsModule) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when needed, and at run time
    const { createRequire } = require('node:module') as { createRequire: typeof CreateRequire };
    userErrorsModule = createRequire(__filename)('./user-errors.cjs') as typeof UserErrors;
  }
  return userErrorsModule;
}

/**
 * Where the function's code is, for writing paths and stacks in its author's terms; undefined in a
 * stem cell that has not been told its function yet.
 */
function codeLocation(): UserErrors.CodeLocation | undefined {
  const entry = config.entry as string | undefined;
  if (!entry?.startsWith('/') || !config.functionName) return undefined;
  return {
    codeDir: entry.slice(0, entry.lastIndexOf('/')),
    functionName: config.functionName,
    runtimeFiles: [__filename],
    readSourceMap,
    ...(scriptRegions ? { scriptRegions } : {}),
  };
}

/** A bundle's source map, which the builder ships beside it as `<bundle>.map` (see `bundler.ts`). */
function readSourceMap(file: string): string | undefined {
  try {
    return readFileSync(`${file}.map`, 'utf8');
  } catch {
    return undefined; // not a bundle, or built without a map: the frame keeps its position
  }
}

/**
 * `require` of the user's entry. Through `createRequire`, not the shim's own `require`: in a process
 * restored from a runtime snapshot, the shim's `require` is the snapshot builder's, which loads only
 * built-in modules.
 */
function requireUser(entry: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when needed, and at run time
  const { createRequire } = require('node:module') as { createRequire: typeof CreateRequire };
  return createRequire(entry)(entry);
}

/**
 * What `import()` would give for a CommonJS module, minus its cost: `default` is `module.exports`,
 * and its properties are named exports. A bundle of an ES module (esbuild marks it `__esModule`)
 * already has the ES shape, with `default` as the ES default export.
 */
function asNamespace(exported: unknown): Record<string, unknown> {
  if (typeof exported === 'object' && exported !== null) {
    const obj = exported as Record<string, unknown>;
    return obj.__esModule === true ? obj : { ...obj, default: obj };
  }
  return { default: exported };
}

/**
 * Loads the entry and finds the handler, reporting `ready` or `init-error`. A `.cjs` entry (what
 * deploys produce whenever they can) is `require`d: that skips Node's ESM loader, several
 * milliseconds of every cold start.
 */
async function loadHandler(): Promise<{ fn: Handler; owner: unknown } | undefined> {
  let mod: Record<string, unknown>;
  /** What the module itself exports (`module.exports`, or the ES namespace), for the no-handler message. */
  let exported: unknown;
  let esm = false;
  try {
    if (preloaded !== undefined || config.entry.endsWith('.cjs')) {
      exported = preloaded !== undefined ? preloaded : requireUser(config.entry);
      mod = asNamespace(exported);
    } else {
      mod = (await import(pathToFileURL(config.entry).href)) as Record<string, unknown>;
      exported = mod;
      esm = true;
    }
  } catch (err) {
    const { errorType, message, stack } = describe(err);
    const where = codeLocation();
    const entry = where ? userErrors().userPaths(config.entry, where) : config.entry;
    send({
      type: 'init-error',
      error: {
        code: 'KINDLING_INIT_FAILED',
        message: `loading ${entry} failed: ${message}`,
        details: { errorType, stack, entry },
      },
    });
    return undefined;
  }
  const dflt = mod.default as Record<string, unknown> | undefined;
  const isObject = typeof dflt === 'object' && dflt !== null;
  const candidates: [string, unknown, unknown][] = [
    ['default', dflt, undefined],
    ['handler', mod.handler, undefined],
    ['default.handler', isObject ? dflt.handler : undefined, dflt],
    ['main', mod.main, undefined],
    ['default.main', isObject ? dflt.main : undefined, dflt],
  ];
  for (const [shape, fn, owner] of candidates) {
    if (typeof fn === 'function') {
      send({ type: 'ready', shape, uptimeMs: process.uptime() * 1000 });
      return { fn: fn as Handler, owner };
    }
  }
  // A bundle of an ES module is CommonJS marked `__esModule`: its author wrote `export`.
  const own = typeof exported === 'object' && exported !== null ? (exported as Record<string, unknown>) : {};
  const kind = esm || own.__esModule === true ? 'esm' : 'commonjs';
  const { exportTypes, noHandlerMessage, userPaths } = userErrors();
  const where = codeLocation();
  const entry = where ? userPaths(config.entry, where) : config.entry;
  send({
    type: 'init-error',
    error: {
      code: 'KINDLING_NO_HANDLER',
      message: noHandlerMessage(entry, exportTypes(own), kind),
      details: { entry, exports: Object.keys(own), moduleKind: kind },
    },
  });
  return undefined;
}

/** Runs one invocation and sends its result frame. */
async function invoke(msg: InvokeMessage): Promise<void> {
  const inv: Invocation = {
    requestId: msg.requestId,
    used: 0,
    dropped: 0,
    lines: [],
    pendingBytes: 0,
    done: false,
  };
  const handler = loaded.handler;
  let json: string;
  if (!handler) {
    json = errorFields({ code: 'KINDLING_NO_HANDLER', message: 'the instance has no handler loaded' });
  } else {
    try {
      const context = makeContext(inv, msg.timeoutMs);
      const value = await store.run(inv, () => handler.fn.call(handler.owner, msg.event, context));
      // Awaited only for a Response (its body is read): a plain value costs no extra promise.
      json = isResponse(value) ? await responseFields(value) : resultFields(value);
    } catch (err) {
      const { errorType, message, stack } = describe(err);
      json = errorFields({ code: 'KINDLING_HANDLER_ERROR', message, details: { errorType, stack } });
    }
  }
  flush(inv);
  inv.done = true;
  const head = `{"type":"result","requestId":${JSON.stringify(inv.requestId)},"droppedBytes":${inv.dropped}`;
  writer.write(encodeJsonFrame(`${head},"out":[${written[0]},${written[1]}],${json}}`));
}

/** The `context` argument, with the AWS Lambda field names functions already use. */
function makeContext(inv: Invocation, timeoutMs: number): Record<string, unknown> {
  const deadline = Date.now() + timeoutMs;
  const logAt =
    (level: 'info' | 'warn' | 'error' | 'debug') =>
    (...args: unknown[]): void => {
      if (inv.done) console[level](...args);
      else record(inv, level, format(...args));
    };
  return {
    requestId: inv.requestId,
    awsRequestId: inv.requestId,
    functionName: config.functionName,
    functionVersion: config.functionVersion,
    memoryLimitInMB: config.memoryMb,
    deadline,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    log: { info: logAt('info'), warn: logAt('warn'), error: logAt('error'), debug: logAt('debug') },
  };
}

/** The `"ok":…` part of a result frame for a Web Response: API-gateway style. */
async function responseFields(response: Response): Promise<string> {
  return resultFields(await fromResponse(response));
}

/** The `"ok":…` part of a result frame: the value as JSON, or why it cannot be sent. */
function resultFields(payload: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (err) {
    return errorFields({
      code: 'KINDLING_RESULT_NOT_SERIALIZABLE',
      message: `the handler's result cannot be serialised to JSON (${describe(err).message}); return plain JSON values (no BigInt, no cycles)`,
    });
  }
  // `undefined` (and functions or symbols) serialise to nothing: the result is null.
  json ??= 'null';
  const size = Buffer.byteLength(json);
  if (size > RESULT_LIMIT_BYTES) {
    return errorFields({
      code: 'KINDLING_RESULT_TOO_LARGE',
      message: `the handler's result is ${size} bytes serialised, over the limit of ${RESULT_LIMIT_BYTES} bytes (6 MiB); return less, or store it elsewhere and return a reference`,
      details: { sizeBytes: size, limitBytes: RESULT_LIMIT_BYTES },
    });
  }
  return `"ok":true,"result":${json}`;
}

function errorFields(error: WireError): string {
  return `"ok":false,"error":${JSON.stringify(error)}`;
}

// Duck-typed so that a non-Response result never touches the lazy `Response` global (loading undici
// costs milliseconds); a function that returns a Response has loaded it already.
function isResponse(value: unknown): value is Response {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<Response>;
  return (
    value.constructor?.name === 'Response' &&
    typeof r.status === 'number' &&
    typeof r.arrayBuffer === 'function'
  );
}

/** A Web Response as an API-gateway-style result; the body is base64 unless it is text. */
async function fromResponse(response: Response): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    if (key !== 'set-cookie') headers[key] = value;
  });
  const cookies = response.headers.getSetCookie();
  const body = Buffer.from(await response.arrayBuffer());
  const type = headers['content-type'] ?? '';
  const text = type === '' ? isUtf8(body) : /^text\/|json|xml|javascript|x-www-form-urlencoded/i.test(type);
  return {
    statusCode: response.status,
    headers,
    ...(cookies.length > 0 ? { cookies } : {}),
    body: text ? body.toString('utf8') : body.toString('base64'),
    isBase64Encoded: !text,
  };
}

/**
 * Name, message and stack of anything thrown (users throw strings and plain objects too), with paths
 * in the function's terms and without the runtime's own frames.
 */
function describe(err: unknown): { errorType: string; message: string; stack: string | undefined } {
  if (typeof err === 'object' && err !== null) {
    const e = err as { name?: unknown; message?: unknown; stack?: unknown };
    const message = typeof e.message === 'string' ? e.message : inspect(err);
    const stack = typeof e.stack === 'string' ? e.stack : undefined;
    const where = codeLocation();
    if (!where) return { errorType: errorTypeOf(err), message, stack };
    const { userPaths, userStack } = userErrors();
    return {
      errorType: errorTypeOf(err),
      message: userPaths(message, where),
      stack: stack === undefined ? undefined : userStack(stack, where),
    };
  }
  return { errorType: typeof err, message: String(err), stack: undefined };
}

function errorTypeOf(err: object): string {
  const name = (err as { name?: unknown }).name;
  return typeof name === 'string' ? name : (err.constructor?.name ?? 'Object');
}

/**
 * Tells the host why the process is about to die (uncaught exception or unhandled rejection), so it
 * can report a crash rather than an exit. Written synchronously: the process ends right after.
 */
function reportFatal(err: unknown, origin: string): void {
  // A user 'uncaughtException' listener means the process survives: nothing to report.
  if (process.listenerCount('uncaughtException') > 0) return;
  const { message, stack } = describe(err);
  const fatal = encodeFrame({ type: 'fatal', origin, message, stack: stack?.slice(0, FATAL_STACK_CHARS) });
  const frame = Buffer.concat([...writer.take(), fatal]);
  // Only write directly when nothing is queued on the socket, or the frame would interleave with one.
  if (channel.writableLength > 0) return void channel.write(frame);
  try {
    writeSync(3, frame);
  } catch (writeErr) {
    writeSync(2, `kindling runtime: could not report the fatal error to the host: ${String(writeErr)}\n`);
  }
}
