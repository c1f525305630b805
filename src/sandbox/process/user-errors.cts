/**
 * The wording of errors in the function's own code, as its author reads them: paths inside the
 * worker's image store become `<function name>/<file>`, the runtime's own stack frames are dropped,
 * frames in a bundle point at the author's source (through the bundle's source map), and a module
 * without a handler is told exactly what to export, in the module system it is written in.
 *
 * Loaded by the runtime shim only when an error is formatted (never on the cold-start path), and
 * by the host for the isolate tier; it imports only the source-map reader beside it.
 */
import { originalPositions } from './source-maps.cjs';

/** How the user's module was written: decides which export syntax the advice shows. */
export type ModuleKind = 'commonjs' | 'esm';

/** Where the function's files are, as the code sees them, and what to call them instead. */
export interface CodeLocation {
  /** Directory holding the function's files (no trailing `/`), e.g. the image's directory or `/fn`. */
  codeDir: string;
  functionName: string;
  /** Files of the platform's own runtime, whose stack frames mean nothing to the author. */
  runtimeFiles?: readonly string[];
  /**
   * The source map of a file inside `codeDir` (as a stack frame names it), or undefined when it has
   * none. Called only for frames not mapped before; without it, frames keep the bundle's positions.
   */
  readSourceMap?: (file: string) => string | undefined;
  /** A process restored from a startup snapshot runs its files from one script; see {@link ScriptRegions}. */
  scriptRegions?: ScriptRegions;
}

/**
 * Which lines of a startup snapshot's script hold which file's source, each from the start of a
 * line (the runtime's and the function's; `snapshot.ts` writes the script).
 */
export interface ScriptRegions {
  script: string;
  regions: { firstLine: number; lineCount: number; file: string }[];
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `text` with every path inside `codeDir` (plain or as a `file://` URL) written `<function>/<file>`.
 * Only whole paths: the directory must start the text or follow a space, bracket, quote, `=` or
 * `,`, so a URL that merely contains it (`https://example.com/fn/x` with the container's `/fn`) is
 * left as the code wrote it.
 */
export function userPaths(text: string, where: CodeLocation): string {
  const dir = `${where.codeDir}/`;
  const name = `${where.functionName}/`;
  const path = new RegExp(
    `(^|[\\s(\\[<"'\`=,])(?:file://${escapeRegExp(encodeURI(dir))}|${escapeRegExp(dir)})`,
    'g',
  );
  return text.replace(path, (_, before: string) => before + name);
}

/** Stack frames of module loading (Node's loaders) and of the runtime shim: below the user's code. */
function isPlatformFrame(line: string, where: CodeLocation): boolean {
  if (!line.startsWith('    at ')) return false;
  if (line.includes('node:internal/modules/')) return true;
  return (where.runtimeFiles ?? []).some((file) => line.includes(file));
}

/**
 * A stack as the author should see it: the frames down to the first one of the platform (module
 * loading, the runtime shim), with paths in the function's terms.
 */
export function userStack(stack: string, where: CodeLocation): string {
  const lines = where.scriptRegions ? inRealFiles(stack.split('\n'), where.scriptRegions) : stack.split('\n');
  const cut = lines.findIndex((line) => isPlatformFrame(line, where));
  const kept = cut < 0 ? lines : lines.slice(0, cut);
  return userPaths((where.readSourceMap ? withOriginalPositions(kept, where) : kept).join('\n'), where);
}

/** `lines` with each frame in the snapshot's script written as the file and line it came from. */
function inRealFiles(lines: string[], { script, regions }: ScriptRegions): string[] {
  return lines.map((line) => {
    const m = FRAME.exec(line);
    if (!m || m[2] !== script) return line;
    const at = Number(m[3]);
    const region = regions.find((r) => at >= r.firstLine && at < r.firstLine + r.lineCount);
    return region ? `${m[1]}${region.file}:${at - region.firstLine + 1}:${m[4]}${m[5]}` : line;
  });
}

/** A stack frame's location: `    at f (FILE:LINE:COL)`, `    at FILE:LINE:COL`, either after `async `. */
const FRAME = /^(\s+at (?:async )?(?:.+? \()?)([^()\s][^()]*?):(\d+):(\d+)(\)?)$/;

/** Where a bundle's position came from, and the original name of the identifier there, if renamed. */
interface MappedFrame {
  at: string;
  name?: string;
}

/**
 * Frames already mapped (`file:line:col` → the original place, or null for unmapped), per map
 * reader: a reader stands for one set of files (the runtime's reads absolute paths; the isolate
 * host has one per instance, whose frames all say `<function>/<file>`).
 */
const mappedBy = new WeakMap<NonNullable<CodeLocation['readSourceMap']>, Map<string, MappedFrame | null>>();
const MAPPED_LIMIT = 1_000;

/**
 * `lines` with each frame inside `codeDir` that the file's source map covers pointing at the
 * original source instead (`codeDir/<source>:line:col`, which {@link userPaths} then shortens).
 * A function that throws from the same place on every invocation reads its map once.
 */
function withOriginalPositions(lines: string[], where: CodeLocation): string[] {
  const read = where.readSourceMap!;
  const mapped = mappedBy.get(read) ?? new Map<string, MappedFrame | null>();
  mappedBy.set(read, mapped);
  const frames = lines.map((line) => FRAME.exec(line));
  const missing = new Map<string, { line: number; column: number; key: string }[]>();
  for (const m of frames) {
    if (!m) continue;
    // An ES module's frames name it by URL.
    const file = m[2]!.startsWith('file://') ? decodeURI(m[2]!.slice('file://'.length)) : m[2]!;
    const key = `${m[2]}:${m[3]}:${m[4]}`;
    if (!file.startsWith(`${where.codeDir}/`) || mapped.has(key)) continue;
    const list = missing.get(file) ?? [];
    list.push({ line: Number(m[3]), column: Number(m[4]), key });
    missing.set(file, list);
  }
  if (mapped.size + missing.size > MAPPED_LIMIT) mapped.clear();
  for (const [file, wanted] of missing) {
    const text = read(file);
    const found = text === undefined ? [] : originalPositions(text, wanted);
    wanted.forEach((w, i) => {
      const o = found[i];
      const source = o && (o.source.startsWith('/') ? o.source : `${where.codeDir}/${o.source}`);
      mapped.set(w.key, o ? { at: `${source}:${o.line}:${o.column}`, name: o.name } : null);
    });
  }
  const mappedAt = (m: RegExpExecArray | null | undefined) =>
    m ? mapped.get(`${m[2]}:${m[3]}:${m[4]}`) : undefined;
  return lines.map((line, i) => {
    const m = frames[i];
    const to = mappedAt(m);
    if (!m || !to) return line;
    // A function the bundler renamed (`boom` → `boom2`) is named as its author wrote it: the caller's
    // frame stands on the call, whose identifier the map names (as Node's own source-map support does).
    return `${originalName(m[1]!, mappedAt(frames[i + 1])?.name)}${to.at}${m[5]}`;
  });
}

/** A frame's head (`    at boom2 (`) with the function's bundled name put back to `original`. */
function originalName(head: string, original: string | undefined): string {
  if (!original) return head;
  return head.replace(new RegExp(`(?<=[\\s.])${escapeRegExp(original)}\\d+(?= )`), original);
}

/** The export names the loader looks at, in the order it tries them. */
const HANDLER_EXPORTS = ['default', 'handler', 'main'];

/** Each export's kind of value (`function`, `object`, `array`, `null`, `string`, …), by name. */
export function exportTypes(exports: Record<string, unknown>): Record<string, string> {
  const types: Record<string, string> = {};
  for (const name of Object.keys(exports)) {
    const value = exports[name];
    types[name] = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  }
  return types;
}

const A_TYPE: Record<string, string> = {
  object: 'an object',
  array: 'an array',
  undefined: 'undefined',
  null: 'null',
};

/**
 * KINDLING_NO_HANDLER's message: which exports the module really has (`types`, from
 * {@link exportTypes}), and the exact export that fixes it, in the module's own syntax. `file` is
 * already in the author's terms (`hello/index.cjs`).
 */
export function noHandlerMessage(file: string, types: Record<string, string>, kind: ModuleKind): string {
  const names = Object.keys(types);
  const found =
    names.length === 0 ? 'it exports nothing' : `its exports are ${names.map((n) => `"${n}"`).join(', ')}`;
  const notFunctions = HANDLER_EXPORTS.filter((n) => n in types).map(
    (n) => `"${n}" is ${A_TYPE[types[n]!] ?? `a ${types[n]}`}, not a function`,
  );
  const how =
    kind === 'esm'
      ? '`export default async (event, context) => { … }` or `export async function handler(event, context) { … }`'
      : '`module.exports = async (event, context) => { … }` or `exports.handler = async (event, context) => { … }`';
  return (
    `${file} exports no handler function (${[found, ...notFunctions].join('; ')}). ` +
    `Export the handler as ${how}; a function exported as "main" (OpenWhisk's name) is taken too.`
  );
}
