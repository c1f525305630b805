/**
 * In-isolate source: `fetch`, `Headers` and a minimal `Response`, installed only for functions with
 * `network: true`. The request leaves the isolate as plain data through the bridge's `fetchStart`
 * (which returns at once); the host makes it and calls the driver's `settleFetch` with the outcome
 * (see fetch-bridge.ts). Bodies are whole buffers, not streams: the host caps them anyway.
 *
 * Fragment of the bootstrap function (see bootstrap.ts): it uses `fetchStart`, `inflight` and
 * `current` (console.ts), and `TextEncoder`/`TextDecoder` (encoding.ts).
 */
export const FETCH_SOURCE = String.raw`
const FETCH_BODY_LIMIT = 6 * 1024 * 1024;
const pendingFetches = new Map();
let nextFetch = 1;
const HEADER_NAME = /^[!#$%&'*+.^_\x60|~0-9A-Za-z-]+$/;
function headerName(name) {
  const n = String(name);
  if (!HEADER_NAME.test(n)) throw new TypeError('Headers: invalid header name ' + JSON.stringify(n));
  return n.toLowerCase();
}
function headerValue(value) {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  if (/[\0\r\n]/.test(v)) throw new TypeError('Headers: invalid header value ' + JSON.stringify(v));
  return v;
}
class Headers {
  #map = new Map();
  constructor(init) {
    if (init === undefined || init === null) return;
    if (init instanceof Headers) { for (const [k, v] of init) this.append(k, v); return; }
    if (typeof init !== 'object') throw new TypeError('Headers: init must be an object, an array of pairs or Headers');
    if (typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) {
        const p = [...pair];
        if (p.length !== 2) throw new TypeError('Headers: each header pair must have a name and a value');
        this.append(p[0], p[1]);
      }
      return;
    }
    for (const k of Object.keys(init)) this.append(k, init[k]);
  }
  append(name, value) {
    const k = headerName(name), v = headerValue(value);
    const old = this.#map.get(k);
    this.#map.set(k, old === undefined ? v : old + ', ' + v);
  }
  set(name, value) { this.#map.set(headerName(name), headerValue(value)); }
  delete(name) { this.#map.delete(headerName(name)); }
  get(name) { const v = this.#map.get(headerName(name)); return v === undefined ? null : v; }
  has(name) { return this.#map.has(headerName(name)); }
  getSetCookie() { const v = this.#map.get('set-cookie'); return v === undefined ? [] : [v]; }
  forEach(fn, thisArg) { for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this); }
  *entries() { yield* [...this.#map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); }
  *keys() { for (const [k] of this.entries()) yield k; }
  *values() { for (const [, v] of this.entries()) yield v; }
  [Symbol.iterator]() { return this.entries(); }
  get [Symbol.toStringTag]() { return 'Headers'; }
}
class Response {
  #bytes; #used = false;
  constructor(wire) {
    this.#bytes = wire.body;
    this.status = wire.status;
    this.statusText = wire.statusText;
    this.url = wire.url;
    this.redirected = wire.redirected;
    this.ok = wire.status >= 200 && wire.status <= 299;
    this.type = 'basic';
    this.headers = new Headers();
    // Appended pair by pair so that repeated headers (set-cookie) are joined, not lost.
    for (const [k, v] of wire.headers) this.headers.append(k, v);
  }
  get bodyUsed() { return this.#used; }
  #take(what) {
    if (this.#used) return Promise.reject(new TypeError('Response.' + what + ': the body has already been read'));
    this.#used = true;
    return Promise.resolve(this.#bytes);
  }
  arrayBuffer() { return this.#take('arrayBuffer').then((b) => b.slice(0)); }
  bytes() { return this.#take('bytes').then((b) => new Uint8Array(b.slice(0))); }
  text() { return this.#take('text').then((b) => new TextDecoder().decode(b)); }
  json() { return this.#take('json').then((b) => JSON.parse(new TextDecoder().decode(b))); }
  clone() {
    if (this.#used) throw new TypeError('Response.clone: the body has already been read');
    return new Response({ ...this, headers: [...this.headers], body: this.#bytes });
  }
  get [Symbol.toStringTag]() { return 'Response'; }
}
/** The request body as a string or an ArrayBuffer the host can copy, and its default content type. */
function requestBody(body) {
  if (body === undefined || body === null) return { body: null, type: null };
  if (typeof body === 'string') return { body, type: 'text/plain;charset=UTF-8' };
  if (body instanceof URLSearchParams) return { body: body.toString(), type: 'application/x-www-form-urlencoded;charset=UTF-8' };
  if (body instanceof ArrayBuffer) return { body: body.slice(0), type: null };
  if (ArrayBuffer.isView(body)) return { body: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength), type: null };
  throw new TypeError('fetch: the body must be a string, an ArrayBuffer, a typed array or URLSearchParams ' +
    '(JSON.stringify objects first)');
}
/** The deadline of the invocation that is calling (see the attribution note in console.ts). */
function callerDeadline() {
  if (current) return current.deadline;
  let latest = null;
  for (const inv of inflight.values()) if (latest === null || inv.deadline > latest) latest = inv.deadline;
  return latest;
}
function fetch(input, init) {
  return new Promise((resolve, reject) => {
    const opts = init === undefined || init === null ? {} : init;
    const isRequest = typeof input === 'object' && input !== null && !(input instanceof URL) && typeof input.url === 'string';
    const url = new URL(isRequest ? input.url : String(input));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError('fetch: only http: and https: URLs are allowed, not ' + url.protocol + ' (' + url.href + ')');
    }
    const method = String(opts.method ?? (isRequest ? input.method : undefined) ?? 'GET').toUpperCase();
    const headers = new Headers(opts.headers ?? (isRequest ? input.headers : undefined));
    const { body, type } = requestBody(opts.body ?? (isRequest ? input.body : undefined));
    if (type !== null && !headers.has('content-type')) headers.set('content-type', type);
    const size = body === null ? 0 : typeof body === 'string' ? utf8Length(body) : body.byteLength;
    if (size > FETCH_BODY_LIMIT) {
      throw new TypeError('fetch: the request body is ' + size + ' bytes, over the limit of ' + FETCH_BODY_LIMIT + ' bytes (6 MiB)');
    }
    const redirect = opts.redirect ?? 'follow';
    if (redirect !== 'follow' && redirect !== 'manual' && redirect !== 'error') {
      throw new TypeError('fetch: redirect must be "follow", "manual" or "error", not ' + JSON.stringify(redirect));
    }
    const id = nextFetch++;
    pendingFetches.set(id, { resolve, reject });
    fetchStart(id, { url: url.href, method, headers: [...headers], body, redirect }, callerDeadline());
  });
}
/** The host's answer to request id: settles its promise (continuations run after this returns). */
function settleFetchRequest(id, wire) {
  const p = pendingFetches.get(id);
  if (!p) return;
  pendingFetches.delete(id);
  if (wire.ok) { p.resolve(new Response(wire)); return; }
  const err = new TypeError(wire.message);
  if (wire.code !== undefined) err.code = wire.code;
  p.reject(err);
}
if (fetchStart !== undefined) {
  for (const [name, value] of [['fetch', fetch], ['Headers', Headers]]) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }
}
`;
