/**
 * In-isolate source: `URL` and `URLSearchParams`. Parsing a URL by the WHATWG rules is large and
 * subtle, so `URL` asks the host's parser (one synchronous call per parse or setter) and keeps the
 * parts; `URLSearchParams` is plain JavaScript (form encoding is small and needs no host).
 *
 * Fragment of the bootstrap function (see bootstrap.ts): it uses the bridge's `parseUrl`.
 */
export const URL_SOURCE = String.raw`
function formEncode(s) {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}
function formDecode(s) {
  const t = s.replace(/\+/g, ' ');
  try { return decodeURIComponent(t); } catch { return t; }
}
class URLSearchParams {
  #list = []; #onChange;
  constructor(init = '', onChange) {
    this.#onChange = onChange;
    if (typeof init === 'string') this.#parse(init);
    else if (init && typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) { const [k, v] = pair; this.#list.push([String(k), String(v)]); }
    } else if (init && typeof init === 'object') {
      for (const k of Object.keys(init)) this.#list.push([k, String(init[k])]);
    }
  }
  #parse(s) {
    this.#list = [];
    for (const part of (s.startsWith('?') ? s.slice(1) : s).split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      this.#list.push(eq < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
    }
  }
  /** Called by the owning URL when its search changes. */
  _reset(search) { this.#parse(search); }
  #changed() { if (this.#onChange) this.#onChange(this.toString()); }
  get size() { return this.#list.length; }
  append(k, v) { this.#list.push([String(k), String(v)]); this.#changed(); }
  delete(k, v) { this.#list = this.#list.filter(([a, b]) => !(a === String(k) && (v === undefined || b === String(v)))); this.#changed(); }
  get(k) { const e = this.#list.find(([a]) => a === String(k)); return e ? e[1] : null; }
  getAll(k) { return this.#list.filter(([a]) => a === String(k)).map(([, b]) => b); }
  has(k, v) { return this.#list.some(([a, b]) => a === String(k) && (v === undefined || b === String(v))); }
  set(k, v) {
    const key = String(k), i = this.#list.findIndex(([a]) => a === key);
    if (i < 0) this.#list.push([key, String(v)]);
    else { this.#list[i] = [key, String(v)]; this.#list = this.#list.filter(([a], j) => j <= i || a !== key); }
    this.#changed();
  }
  sort() { this.#list.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)); this.#changed(); }
  forEach(fn, thisArg) { for (const [k, v] of this.#list) fn.call(thisArg, v, k, this); }
  *keys() { for (const [k] of this.#list) yield k; }
  *values() { for (const [, v] of this.#list) yield v; }
  *entries() { for (const [k, v] of this.#list) yield [k, v]; }
  [Symbol.iterator]() { return this.entries(); }
  toString() { return this.#list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
}
const URL_PARTS = ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash'];
class URL {
  #p; #params = null;
  constructor(input, base) {
    const p = parseUrl(String(input), base === undefined ? undefined : String(base), undefined, undefined);
    if (p === null) throw new TypeError('Invalid URL: ' + String(input));
    this.#p = p;
  }
  static canParse(input, base) {
    return parseUrl(String(input), base === undefined ? undefined : String(base), undefined, undefined) !== null;
  }
  #set(key, value) {
    const p = parseUrl(this.#p.href, undefined, key, String(value));
    if (p === null) { if (key === 'href') throw new TypeError('Invalid URL: ' + String(value)); return; }
    this.#p = p;
    if (this.#params) this.#params._reset(p.search);
  }
  get searchParams() {
    this.#params ??= new URLSearchParams(this.#p.search, (s) => { const p = parseUrl(this.#p.href, undefined, 'search', s); if (p) this.#p = p; });
    return this.#params;
  }
  get href() { return this.#p.href; } set href(v) { this.#set('href', v); }
  get origin() { return this.#p.origin; }
  get protocol() { return this.#p.protocol; } set protocol(v) { this.#set('protocol', v); }
  get username() { return this.#p.username; } set username(v) { this.#set('username', v); }
  get password() { return this.#p.password; } set password(v) { this.#set('password', v); }
  get host() { return this.#p.host; } set host(v) { this.#set('host', v); }
  get hostname() { return this.#p.hostname; } set hostname(v) { this.#set('hostname', v); }
  get port() { return this.#p.port; } set port(v) { this.#set('port', v); }
  get pathname() { return this.#p.pathname; } set pathname(v) { this.#set('pathname', v); }
  get search() { return this.#p.search; } set search(v) { this.#set('search', v); }
  get hash() { return this.#p.hash; } set hash(v) { this.#set('hash', v); }
  toString() { return this.#p.href; }
  toJSON() { return this.#p.href; }
}
`;
