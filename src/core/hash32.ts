/**
 * A small deterministic string hash, for choices that must be the same on every run and every host
 * (the simulator replays them) and differ across keys: distribution's tie-breaking, the trace
 * reader's random seeds.
 */

/** FNV-1a, 32 bits: a cheap deterministic hash for tie-breaking (not for security). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
