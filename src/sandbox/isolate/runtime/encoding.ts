/**
 * In-isolate source: UTF-8 helpers, `TextEncoder` and `TextDecoder`. A bare V8 isolate has none of
 * them; they are plain JavaScript here so that encoding never crosses to the host thread.
 *
 * Fragment of the bootstrap function (see bootstrap.ts): it shares that function's scope.
 */
export const ENCODING_SOURCE = String.raw`
const NON_ASCII = /[^\x00-\x7f]/;
/** UTF-8 byte length; lone surrogates count as U+FFFD (3 bytes), as TextEncoder writes them. */
function utf8Length(s) {
  if (!NON_ASCII.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}
/** The longest prefix of s whose UTF-8 form fits in maxBytes, never splitting a character. */
function truncateUtf8(s, maxBytes) {
  let n = 0, i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    let w = 3, step = 1;
    if (c < 0x80) w = 1;
    else if (c < 0x800) w = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { w = 4; step = 2; }
    if (n + w > maxBytes) break;
    n += w; i += step;
  }
  return s.slice(0, i);
}
class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(input = '') {
    const s = String(input);
    const out = new Uint8Array(utf8Length(s));
    let p = 0;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = s.charCodeAt(i + 1);
        if (c <= 0xdbff && (d & 0xfc00) === 0xdc00) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
        else c = 0xfffd;
      }
      if (c < 0x80) out[p++] = c;
      else if (c < 0x800) { out[p++] = 0xc0 | (c >> 6); out[p++] = 0x80 | (c & 63); }
      else if (c < 0x10000) { out[p++] = 0xe0 | (c >> 12); out[p++] = 0x80 | ((c >> 6) & 63); out[p++] = 0x80 | (c & 63); }
      else { out[p++] = 0xf0 | (c >> 18); out[p++] = 0x80 | ((c >> 12) & 63); out[p++] = 0x80 | ((c >> 6) & 63); out[p++] = 0x80 | (c & 63); }
    }
    return out;
  }
  encodeInto(input, dest) {
    const bytes = this.encode(input);
    const n = Math.min(bytes.length, dest.length);
    dest.set(bytes.subarray(0, n));
    return { read: String(input).length, written: n };
  }
}
class TextDecoder {
  #fatal; #ignoreBOM;
  constructor(label = 'utf-8', options = {}) {
    const l = String(label).trim().toLowerCase();
    if (l !== 'utf-8' && l !== 'utf8' && l !== 'unicode-1-1-utf-8') {
      throw new RangeError('TextDecoder: only utf-8 is available in the isolate tier, not "' + label + '"');
    }
    this.#fatal = Boolean(options.fatal);
    this.#ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding() { return 'utf-8'; }
  get fatal() { return this.#fatal; }
  get ignoreBOM() { return this.#ignoreBOM; }
  decode(input) {
    if (input === undefined) return '';
    const b = ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
      : input instanceof ArrayBuffer ? new Uint8Array(input) : null;
    if (b === null) throw new TypeError('TextDecoder.decode: expected an ArrayBuffer or a view of one');
    let out = '', chunk = [];
    let i = (!this.#ignoreBOM && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) ? 3 : 0;
    const bad = () => { if (this.#fatal) throw new TypeError('TextDecoder: the input is not valid utf-8'); return 0xfffd; };
    while (i < b.length) {
      const c = b[i];
      let cp, need = 0;
      if (c < 0x80) { cp = c; }
      else if (c >= 0xc2 && c <= 0xdf) { cp = c & 31; need = 1; }
      else if (c >= 0xe0 && c <= 0xef) { cp = c & 15; need = 2; }
      else if (c >= 0xf0 && c <= 0xf4) { cp = c & 7; need = 3; }
      else { chunk.push(bad()); i++; continue; }
      let j = 1;
      for (; j <= need; j++) {
        const d = b[i + j];
        if (d === undefined || (d & 0xc0) !== 0x80) break;
        cp = (cp << 6) | (d & 63);
      }
      if (j <= need || (need === 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (need === 3 && (cp < 0x10000 || cp > 0x10ffff))) {
        chunk.push(bad()); i += Math.max(1, j === 1 ? 1 : j); continue;
      }
      i += need + 1;
      if (cp >= 0x10000) { cp -= 0x10000; chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023)); }
      else chunk.push(cp);
      if (chunk.length > 8192) { out += String.fromCharCode.apply(null, chunk); chunk = []; }
    }
    return out + String.fromCharCode.apply(null, chunk);
  }
}
`;
