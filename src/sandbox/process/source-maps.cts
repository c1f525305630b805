/**
 * Positions in a bundle mapped back to the author's source, from the bundle's source map (version
 * 3, as esbuild writes it), for stack traces.
 *
 * Only what an error needs: the positions of a few stack frames. The `mappings` are scanned once,
 * up to the last line asked for, keeping no decoded segments, so a large bundle's map costs time
 * proportional to its size on the error path and no memory beyond its text. Loaded with the error
 * wording (`user-errors.cts`), never on the cold-start path; it imports nothing.
 */

/** A place in a bundle, 1-based as stack traces write it. */
export interface GeneratedPosition {
  line: number;
  column: number;
}

/** Where a bundle's position came from, 1-based. */
export interface OriginalPosition {
  /** The source's path as the map names it (with `sourceRoot` applied). */
  source: string;
  line: number;
  column: number;
  /**
   * The original name of the identifier at this position, where the map gives one (esbuild does
   * for identifiers it renamed: a `boom` that collided with another module's is `boom2` in the bundle).
   */
  name?: string;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) DIGIT[BASE64.charCodeAt(i)] = i;

interface RawMap {
  version?: unknown;
  sources?: unknown;
  sourceRoot?: unknown;
  mappings?: unknown;
  names?: unknown;
}

/**
 * The original position of each of `wanted` in the bundle that `mapText` maps, or undefined where
 * the map has nothing for it (a position before the line's first segment, a segment without a
 * source, a line past the map's end). Throws nothing: a map that does not parse maps nothing.
 */
export function originalPositions(
  mapText: string,
  wanted: readonly GeneratedPosition[],
): (OriginalPosition | undefined)[] {
  const found: (OriginalPosition | undefined)[] = wanted.map(() => undefined);
  let map: RawMap;
  try {
    map = JSON.parse(mapText) as RawMap;
  } catch {
    return found;
  }
  if (map.version !== 3 || typeof map.mappings !== 'string' || !Array.isArray(map.sources)) return found;
  const root =
    typeof map.sourceRoot === 'string' && map.sourceRoot !== '' ? map.sourceRoot.replace(/\/?$/, '/') : '';
  const sources = (map.sources as unknown[]).map((s) => (typeof s === 'string' ? root + s : undefined));
  const names = Array.isArray(map.names) ? (map.names as unknown[]) : [];
  // 0-based generated line → indexes into `wanted` on it.
  const byLine = new Map<number, number[]>();
  wanted.forEach((p, i) => {
    if (!(p.line >= 1 && p.column >= 1)) return;
    const list = byLine.get(p.line - 1);
    if (list) list.push(i);
    else byLine.set(p.line - 1, [i]);
  });
  if (byLine.size === 0) return found;
  const lastLine = Math.max(...byLine.keys());
  const text = map.mappings;

  // The decoder's state: generated column resets each line; the other fields carry over.
  let line = 0;
  let column = 0;
  let source = 0;
  let originalLine = 0;
  let originalColumn = 0;
  let nameIndex = 0;
  let pos = 0;
  const fields = [0, 0, 0, 0, 0];
  while (pos <= text.length && line <= lastLine) {
    const here = byLine.get(line);
    // Segments of this line, in order of generated column.
    while (pos < text.length && text[pos] !== ';') {
      if (text[pos] === ',') {
        pos++;
        continue;
      }
      let n = 0;
      while (pos < text.length && text[pos] !== ',' && text[pos] !== ';') {
        let value = 0;
        let shift = 0;
        for (;;) {
          const digit = DIGIT[text.charCodeAt(pos++)] ?? -1;
          if (digit < 0) return found; // not base64 VLQ: give up rather than guess
          value += (digit & 31) * 2 ** shift;
          shift += 5;
          if ((digit & 32) === 0) break;
        }
        if (n < 5) fields[n] = value % 2 === 1 ? -Math.floor(value / 2) : value / 2;
        n++;
      }
      column += fields[0]!;
      if (n >= 4) {
        source += fields[1]!;
        originalLine += fields[2]!;
        originalColumn += fields[3]!;
      }
      // A name belongs to its segment only, but its index is a delta from the last segment's.
      if (n >= 5) nameIndex += fields[4]!;
      if (here) {
        for (const i of here) {
          // The last segment at or before the wanted column is the one that covers it.
          if (column <= wanted[i]!.column - 1) {
            const file = n >= 4 ? sources[source] : undefined;
            const name = n >= 5 ? names[nameIndex] : undefined;
            found[i] =
              file === undefined
                ? undefined
                : {
                    source: file,
                    line: originalLine + 1,
                    column: originalColumn + 1,
                    ...(typeof name === 'string' && { name }),
                  };
          }
        }
      }
    }
    pos++; // the ';'
    line++;
    column = 0;
  }
  return found;
}
