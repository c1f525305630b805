/**
 * In-isolate source: log budgets and `console`. Lines are kept inside the isolate and leave it with
 * the invocation's result, so a function that prints 100 MiB costs no host round trips: once a
 * budget is spent, lines are only counted.
 *
 * Attribution: V8 isolates have no async context here (no AsyncLocalStorage), so a `console` call is
 * given to the invocation whose synchronous part is running, else to the only invocation in flight,
 * else to the instance's own log. `context.log` always knows its invocation.
 *
 * Fragment of the bootstrap function (see bootstrap.ts).
 */
export const CONSOLE_SOURCE = String.raw`
/** Lines within limit bytes (message + newline each); the line that crosses keeps its head. */
class Capture {
  constructor(limit) { this.limit = limit; this.used = 0; this.dropped = 0; this.lines = []; }
  add(level, msg) {
    const bytes = utf8Length(msg) + 1;
    if (this.used >= this.limit) { this.dropped += bytes; return; }
    const room = this.limit - this.used;
    if (bytes <= room) { this.lines.push({ t: Date.now(), level, msg }); this.used += bytes; return; }
    if (room > 1) {
      const kept = truncateUtf8(msg, room - 1);
      this.lines.push({ t: Date.now(), level, msg: kept });
      this.dropped += bytes - (utf8Length(kept) + 1);
    } else this.dropped += bytes;
    this.used = this.limit;
  }
  take() {
    const out = { lines: this.lines, dropped: this.dropped };
    this.lines = []; this.used = 0; this.dropped = 0;
    return out;
  }
}
function inspect(v, depth, seen) {
  switch (typeof v) {
    case 'string': return depth === 0 ? v : JSON.stringify(v);
    case 'bigint': return v + 'n';
    case 'symbol': return v.toString();
    case 'function': return '[Function: ' + (v.name || 'anonymous') + ']';
    case 'object': break;
    default: return String(v);
  }
  if (v === null) return 'null';
  if (v instanceof Error) return v.stack || String(v);
  if (seen.includes(v)) return '[Circular]';
  if (depth > 2) return Array.isArray(v) ? '[Array]' : '[Object]';
  const next = seen.concat([v]);
  if (Array.isArray(v)) {
    const items = v.slice(0, 100).map((x) => inspect(x, depth + 1, next));
    if (v.length > 100) items.push('... ' + (v.length - 100) + ' more items');
    return '[ ' + items.join(', ') + ' ]';
  }
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Map) return 'Map(' + v.size + ') { ' + [...v].map(([a, b]) => inspect(a, depth + 1, next) + ' => ' + inspect(b, depth + 1, next)).join(', ') + ' }';
  if (v instanceof Set) return 'Set(' + v.size + ') { ' + [...v].map((a) => inspect(a, depth + 1, next)).join(', ') + ' }';
  if (ArrayBuffer.isView(v)) return v.constructor.name + '(' + v.length + ') [ ' + Array.prototype.slice.call(v, 0, 50).join(', ') + ' ]';
  const keys = Object.keys(v);
  const name = v.constructor && v.constructor !== Object && v.constructor.name ? v.constructor.name + ' ' : '';
  if (keys.length === 0) return name + '{}';
  return name + '{ ' + keys.map((k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)) + ': ' + inspect(v[k], depth + 1, next)).join(', ') + ' }';
}
/** console's printf-like formatting: %s %d %i %f %j %o %O %c %%, then the rest joined by spaces. */
function format(args) {
  let i = 0, head = '';
  if (typeof args[0] === 'string' && args.length > 1 && args[0].includes('%')) {
    i = 1;
    head = args[0].replace(/%([sdifjoOc%])/g, (m, f) => {
      if (f === '%') return '%';
      if (i >= args.length) return m;
      const a = args[i++];
      switch (f) {
        case 's': return typeof a === 'string' ? a : inspect(a, 1, []);
        case 'd': case 'i': return typeof a === 'bigint' ? a + 'n' : String(f === 'i' ? parseInt(a) : Number(a));
        case 'f': return String(parseFloat(a));
        case 'j': try { return JSON.stringify(a); } catch { return '[Circular]'; }
        case 'c': return '';
        default: return inspect(a, 1, []);
      }
    });
    if (i >= args.length) return head;
    head += ' ';
  }
  return head + args.slice(i).map((a) => inspect(a, 0, [])).join(' ');
}
const instanceLog = new Capture(config.logLimitBytes);
const inflight = new Map();
let current;
/** Where a console line goes (see the attribution note in console.ts). */
function sink() {
  if (current) return current.capture;
  if (inflight.size === 1) return inflight.values().next().value.capture;
  return instanceLog;
}
const consoleObject = {};
for (const [name, level] of [['log', 'log'], ['info', 'info'], ['warn', 'warn'], ['error', 'error'], ['debug', 'debug'], ['trace', 'debug'], ['dir', 'log']]) {
  consoleObject[name] = function (...args) { sink().add(level, format(args)); };
}
consoleObject.assert = function (ok, ...args) { if (!ok) sink().add('error', 'Assertion failed' + (args.length ? ': ' + format(args) : '')); };
`;
