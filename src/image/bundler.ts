/**
 * Bundles a function's entry and its dependencies into one ES module with esbuild, so a cold start
 * loads one file instead of walking node_modules.
 */
import { join } from 'node:path';
import { build, type Message } from 'esbuild';
import { KindlingError } from '../core/errors.js';

/** Name of the bundle inside the image (the manifest's `entry`). */
export const BUNDLE_ENTRY = 'index.mjs';

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
}

/** The bundle and esbuild's warnings (as `file:line:col: text`). */
export interface BundleOutput {
  code: Buffer;
  warnings: string[];
}

/**
 * Bundles for Node 20 as ESM. A CommonJS entry comes out as `export default module.exports`, which
 * the runtime reads as `default.handler`. Rejects with KINDLING_BUILD_FAILED listing every error as
 * `file:line:col: text` with a hint at the fix.
 */
export async function bundleEntry(input: BundleInput): Promise<BundleOutput> {
  let result;
  try {
    result = await build({
      absWorkingDir: input.dir,
      entryPoints: [join(input.dir, input.entry)],
      // Never written (write: false); a path inside a directory no input lives in avoids esbuild's
      // refusal to overwrite an input called index.mjs.
      outfile: join(input.dir, '.kindling-bundle', BUNDLE_ENTRY),
      write: false,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      banner: { js: REQUIRE_BANNER },
      external: input.external.flatMap((name) => [name, `${name}/*`]),
      nodePaths: [...input.nodePaths],
      logLevel: 'silent',
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (!Array.isArray(errors)) throw err;
    const lines = errors.map(formatMessage);
    throw new KindlingError(
      'KINDLING_BUILD_FAILED',
      `build of ${input.entry} in ${input.dir} failed with ${errors.length} error${errors.length === 1 ? '' : 's'}:\n` +
        lines.map((l) => `  ${l}`).join('\n') +
        `\nFix ${errors.length === 1 ? 'it' : 'them'} and deploy again.`,
      { errors: errors.map((e) => ({ ...location(e), text: e.text })) },
      { cause: err },
    );
  }
  const out = result.outputFiles.find((f) => f.path.endsWith('.mjs'));
  if (!out)
    throw new KindlingError('KINDLING_INTERNAL', `esbuild produced no ${BUNDLE_ENTRY} for ${input.entry}`);
  return { code: Buffer.from(out.contents), warnings: result.warnings.map(formatMessage) };
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
