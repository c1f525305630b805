/**
 * In-isolate source: the driver the host calls. It loads the user's module, finds the handler, runs
 * invocations and serialises their results to JSON inside the isolate (so BigInt, cycles and size
 * are judged where the value lives, and only a string leaves), and fires timers.
 *
 * Fragment of the bootstrap function (see bootstrap.ts): its last statement returns the driver.
 */
export const DRIVER_SOURCE = String.raw`
const RESULT_LIMIT = 6 * 1024 * 1024;
let handler;
function describe(err) {
  if (typeof err === 'object' && err !== null) {
    return {
      errorType: typeof err.name === 'string' ? err.name : (err.constructor && err.constructor.name) || 'Object',
      message: typeof err.message === 'string' ? err.message : inspect(err, 0, []),
      stack: typeof err.stack === 'string' ? err.stack : undefined,
    };
  }
  return { errorType: typeof err, message: String(err), stack: undefined };
}
// V8 throws this fixed RangeError when the isolate's ArrayBuffer allocator refuses memory over the
// limit (unlike the heap, which disposes the isolate). It is the only signal, so it is read here.
function isAllocationFailure(err) {
  return err instanceof RangeError && err.message === 'Array buffer allocation failed';
}
// kind: how the module was written ('esm' or 'commonjs'); the host words the no-handler advice by it.
function pick(ns, kind) {
  const dflt = ns.default;
  const isObject = typeof dflt === 'object' && dflt !== null;
  const candidates = [
    ['default', dflt, undefined], ['handler', ns.handler, undefined],
    ['default.handler', isObject ? dflt.handler : undefined, dflt], ['main', ns.main, undefined],
    ['default.main', isObject ? dflt.main : undefined, dflt],
  ];
  for (const [shape, fn, owner] of candidates) {
    if (typeof fn === 'function') { handler = { fn, owner }; return { ok: true, shape, instance: instanceLog.take() }; }
  }
  const names = Object.keys(ns);
  const exportTypes = {};
  for (const n of names) {
    const v = ns[n];
    exportTypes[n] = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
  }
  return {
    ok: false, code: 'KINDLING_NO_HANDLER',
    message: config.entry + ' exports no handler function (exports: ' + (names.join(', ') || 'none') + ')',
    details: { entry: config.entry, exports: names, exportTypes, moduleKind: kind }, instance: instanceLog.take(),
  };
}
function initFailure(err) {
  const d = describe(err);
  return {
    ok: false, code: 'KINDLING_INIT_FAILED', message: 'loading ' + config.entry + ' failed: ' + d.message,
    details: { errorType: d.errorType, stack: d.stack, entry: config.entry },
    memory: isAllocationFailure(err), instance: instanceLog.take(),
  };
}
function cjsRequire(name) {
  throw new Error('require("' + name + '"): the isolate tier has no Node modules or file system; bundle the ' +
    'dependency into the function, or deploy it with tier: "process"');
}
let esmLoaded;
const esmReady = new Promise((resolve) => { esmLoaded = resolve; });
function serialise(value) {
  let json;
  try { json = JSON.stringify(value); } catch (err) {
    return { ok: false, code: 'KINDLING_RESULT_NOT_SERIALIZABLE',
      message: "the handler's result cannot be serialised to JSON (" + describe(err).message + '); return plain JSON values (no BigInt, no cycles)' };
  }
  // undefined (and functions or symbols) serialise to nothing: the result is null.
  if (json === undefined) json = 'null';
  const size = json.length * 3 <= RESULT_LIMIT ? 0 : utf8Length(json);
  if (size > RESULT_LIMIT) {
    return { ok: false, code: 'KINDLING_RESULT_TOO_LARGE',
      message: "the handler's result is " + size + ' bytes serialised, over the limit of ' + RESULT_LIMIT + ' bytes (6 MiB); return less, or store it elsewhere and return a reference',
      details: { sizeBytes: size, limitBytes: RESULT_LIMIT } };
  }
  return { ok: true, json };
}
const env = Object.freeze({ ...config.env });
function makeContext(inv, deadline) {
  const logAt = (level) => (...args) => (inv.done ? instanceLog : inv.capture).add(level, format(args));
  return {
    requestId: inv.requestId, awsRequestId: inv.requestId, functionName: config.functionName,
    functionVersion: config.functionVersion, memoryLimitInMB: config.memoryMb, deadline, env,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    log: { info: logAt('info'), warn: logAt('warn'), error: logAt('error'), debug: logAt('debug') },
  };
}
return {
  /** Runs a CommonJS module wrapped as function (exports, require, module, __filename, __dirname). */
  loadCjs(fn) {
    const module = { exports: {} };
    try { fn.call(module.exports, module.exports, cjsRequire, module, '/' + config.entry, '/'); }
    catch (err) { return initFailure(err); }
    const exp = module.exports;
    const isObject = typeof exp === 'object' && exp !== null;
    // A bundle of an ES module is CommonJS marked __esModule: its author wrote export.
    return pick(typeof exp === 'function' ? { default: exp } : (isObject ? exp : {}),
      isObject && exp.__esModule === true ? 'esm' : 'commonjs');
  },
  /** Resolves once the ES module wrapper has run (after any top-level await in the user's module). */
  awaitEsm() { return esmReady.then((ns) => pick(ns, 'esm')); },
  esmLoaded(ns) { esmLoaded(ns); },
  async invoke(requestId, eventJson, deadline) {
    const inv = { requestId, deadline, capture: new Capture(config.logLimitBytes), done: false };
    inflight.set(requestId, inv);
    let out;
    try {
      const context = makeContext(inv, deadline);
      current = inv;
      let pending;
      try { pending = handler.fn.call(handler.owner, JSON.parse(eventJson), context); } finally { current = undefined; }
      out = serialise(await pending);
    } catch (err) {
      const d = describe(err);
      out = { ok: false, code: 'KINDLING_HANDLER_ERROR', message: d.message,
        details: { errorType: d.errorType, stack: d.stack }, memory: isAllocationFailure(err) };
    }
    inv.done = true;
    inflight.delete(requestId);
    const logs = inv.capture.take();
    out.logs = logs.lines; out.dropped = logs.dropped; out.instance = instanceLog.take();
    return out;
  },
  /** Settles fetch request id with the host's outcome (see fetch.ts); returns the instance's lines. */
  settleFetch(id, wire) {
    settleFetchRequest(id, wire);
    return instanceLog.take();
  },
  /** Runs one timer's callback; an exception escaping it ends the instance, as in a Node process. */
  fireTimer(id) {
    const fn = timers.get(id);
    timers.delete(id);
    let error;
    if (fn) try { fn(); } catch (err) { error = describe(err); error.memory = isAllocationFailure(err); }
    return { error, instance: instanceLog.take() };
  },
};
`;
