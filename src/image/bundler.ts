/**
 * Bundles a function's entry and its dependencies into one file with esbuild, so a cold start loads
 * one file instead of walking node_modules.
 *
 * The bundle is CommonJS (`index.cjs`) whenever the code allows it, because that is what starts
 * fastest: loading an ES module brings up Node's ESM loader, and with the heap-limit flags every
 * instance runs with, the loader's own built-ins lose their code cache (measured: ~9 ms more per cold
 * start). Code with top-level `await` cannot be CommonJS; it is bundled as an ES module (`index.mjs`).
 */
import { dirname, join, relative, resolve, sep } from 'node:path';
import { build, type Message } from 'esbuild';
import { KindlingError } from '../core/errors.js';

/** Name of the bundle inside the image (the manifest's `entry`): CommonJS when possible, else ESM. */
export const BUNDLE_ENTRY_CJS = 'index.cjs';
export const BUNDLE_ENTRY_ESM = 'index.mjs';

/**
 * ES module code bundled as CommonJS still sees a working `import.meta.url`, `dirname` and
 * `filename`. Built without `require('node:url')`, so a bundle needs no Node built-in for it (the
 * isolate tier refuses bundles that require any).
 */
const IMPORT_META_BANNER =
  'var __kindlingImportMetaUrl = typeof __filename === "string" ? "file://" + __filename.split("/").map(encodeURIComponent).join("/") : undefined;';
const IMPORT_META_DEFINE = {
  'import.meta.url': '__kindlingImportMetaUrl',
  'import.meta.dirname': '__dirname',
  'import.meta.filename': '__filename',
};

/**
 * Bundled CommonJS code calls `require` for Node built-ins; an ES module has none, so the banner
 * defines one. The import alias is unlikely to collide with user code.
 */
const REQUIRE_BANNER =
  "import { createRequire as __kindlingCreateRequire } from 'node:module';\n" +
  'const require = __kindlingCreateRequire(import.meta.url);';

/** What {@link bundleEntry} bundles. */
export interface BundleInput {
  /** The function directory (esbuild's working directory). */
  dir: string;
  /** Entry module relative to `dir`. */
  entry: string;
  /** Packages left as imports, shipped in node_modules instead. */
  external: readonly string[];
  /** Extra node_modules directories to resolve from (a dependency cache). */
  nodePaths: readonly string[];
  /** Also produce the bundle's source map (default false). */
  sourceMap?: boolean;
}

/** The bundle and esbuild's warnings (as `file:line:col: text`). */
export interface BundleOutput {
  /** File name of the bundle in the image: `index.cjs` or `index.mjs`. */
  entry: string;
  code: Buffer;
  /**
   * The bundle's source map (version 3, no sources' content), with `sources` relative to the
   * function directory (`index.ts`, `lib/a.ts`, `node_modules/pkg/x.js`); when asked for.
   */
  map?: Buffer;
  warnings: string[];
}

/**
 * Bundles for Node 20, as CommonJS when the code allows it and as ESM otherwise. An ES module's
 * `export default` comes out of the CommonJS bundle as `exports.default`, which the runtime reads as
 * the default export. Rejects with KINDLING_BUILD_FAILED listing every error as
 * `file:line:col: text` with a hint at the fix.
 */
export async function bundleEntry(input: BundleInput): Promise<BundleOutput> {
  try {
    return await bundleAs(input, 'cjs');
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (Array.isArray(errors) && errors.some((e) => /top-level await/i.test(e.text))) {
      return bundleAs(input, 'esm').catch((esmErr: unknown) => {
        throw buildFailed(input, esmErr);
      });
    }
    throw buildFailed(input, err);
  }
}

async function bundleAs(input: BundleInput, format: 'cjs' | 'esm'): Promise<BundleOutput> {
  const entry = format === 'cjs' ? BUNDLE_ENTRY_CJS : BUNDLE_ENTRY_ESM;
  const result = await build({
    absWorkingDir: input.dir,
    entryPoints: [join(input.dir, input.entry)],
    // Never written (write: false); a path inside a directory no input lives in avoids esbuild's
    // refusal to overwrite an input called index.mjs.
    outfile: join(input.dir, '.kindling-bundle', entry),
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    ...(format === 'cjs'
      ? { banner: { js: IMPORT_META_BANNER }, define: IMPORT_META_DEFINE }
      : { banner: { js: REQUIRE_BANNER } }),
    external: input.external.flatMap((name) => [name, `${name}/*`]),
    nodePaths: [...input.nodePaths],
    // External: no sourceMappingURL comment, so Node never reads the map on its own (at start);
    // the runtime reads it beside the bundle when it reports an error.
    ...(input.sourceMap ? { sourcemap: 'external' as const, sourcesContent: false } : {}),
    logLevel: 'silent',
  });
  const out = result.outputFiles.find((f) => f.path.endsWith(`${sep}${entry}`));
  if (!out) throw new KindlingError('KINDLING_INTERNAL', `esbuild produced no ${entry} for ${input.entry}`);
  const map = result.outputFiles.find((f) => f.path.endsWith(`${sep}${entry}.map`));
  return {
    entry,
    code: Buffer.from(out.contents),
    ...(map ? { map: relativeSources(map.contents, dirname(out.path), input.dir) } : {}),
    warnings: result.warnings.map(formatMessage),
  };
}

/**
 * The map with its `sources` relative to the function directory instead of the bundle's. A
 * dependency resolved from outside it (the dependency cache) is named from its `node_modules/`.
 */
function relativeSources(contents: Uint8Array, bundleDir: string, fnDir: string): Buffer {
  const map = JSON.parse(Buffer.from(contents).toString('utf8')) as { sources: string[] };
  map.sources = map.sources.map((source) => {
    const path = relative(fnDir, resolve(bundleDir, source)).split(sep).join('/');
    const modules = path.indexOf('node_modules/');
    return path.startsWith('../') && modules >= 0 ? path.slice(modules) : path;
  });
  return Buffer.from(JSON.stringify(map));
}

/** esbuild's errors as one KINDLING_BUILD_FAILED (anything else is rethrown as it is). */
function buildFailed(input: BundleInput, err: unknown): unknown {
  const errors = (err as { errors?: Message[] }).errors;
  if (!Array.isArray(errors)) return err;
  const lines = errors.map(formatMessage);
  return new KindlingError(
    'KINDLING_BUILD_FAILED',
    `build of ${input.entry} in ${input.dir} failed with ${errors.length} error${errors.length === 1 ? '' : 's'}:\n` +
      lines.map((l) => `  ${l}`).join('\n') +
      `\nFix ${errors.length === 1 ? 'it' : 'them'} and deploy again.`,
    { errors: errors.map((e) => ({ ...location(e), text: e.text })) },
    { cause: err },
  );
}

function location(m: Message): { file: string; line: number; column: number } {
  return {
    file: m.location?.file ?? '<unknown>',
    line: m.location?.line ?? 0,
    column: (m.location?.column ?? -1) + 1,
  };
}

function formatMessage(m: Message): string {
  const { file, line, column } = location(m);
  return `${file}:${line}:${column}: ${m.text}${hint(m.text)}`;
}

/** The common failures have a known fix; say it. */
function hint(text: string): string {
  if (text.startsWith('Could not resolve')) {
    return ' (add the package to package.json "dependencies", install it, or list it in kindling.json "external"; for a relative import, check the path)';
  }
  return '';
}
