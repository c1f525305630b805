/**
 * In-isolate source: timers and `crypto`. Timers live on the host's event loop (an isolate has none):
 * the isolate asks the host to schedule an id, and the host calls back into the isolate to fire it.
 * Randomness comes from the host's CSPRNG.
 *
 * Fragment of the bootstrap function (see bootstrap.ts): it uses the bridge's `schedule`, `cancel`
 * and `random`, and installs every global Kindling provides.
 */
export const GLOBALS_SOURCE = String.raw`
const timers = new Map();
let nextTimer = 1;
function setTimeout(fn, ms, ...args) {
  if (typeof fn !== 'function') throw new TypeError('setTimeout: the callback must be a function');
  const id = nextTimer++;
  timers.set(id, () => fn(...args));
  schedule(id, Math.max(0, Number(ms) || 0));
  return id;
}
function clearTimeout(id) {
  if (timers.delete(id)) cancel(id);
}
const MAX_RANDOM_BYTES = 65536;
const cryptoObject = {
  getRandomValues(array) {
    if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView) {
      throw new TypeError('crypto.getRandomValues: expected an integer typed array');
    }
    if (array.byteLength > MAX_RANDOM_BYTES) {
      throw new RangeError('crypto.getRandomValues: ' + array.byteLength + ' bytes requested, over the limit of ' + MAX_RANDOM_BYTES);
    }
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(random(array.byteLength));
    return array;
  },
  randomUUID() {
    const b = random(16);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  },
};
for (const [name, value] of [
  ['console', consoleObject], ['setTimeout', setTimeout], ['clearTimeout', clearTimeout], ['crypto', cryptoObject],
  ['TextEncoder', TextEncoder], ['TextDecoder', TextDecoder], ['URL', URL], ['URLSearchParams', URLSearchParams],
]) {
  Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}
`;
