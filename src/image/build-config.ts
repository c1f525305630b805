/**
 * The build inputs of a function directory: the build keys of `kindling.json`, the rest of it
 * (handed to the control plane untouched), `package.json`, and the entry module.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { z } from 'zod';
import { KindlingError } from '../core/errors.js';
import { describeIssues, plainWords } from '../core/validate.js';

/** Entry candidates tried in order when neither kindling.json nor package.json names one. */
export const DEFAULT_ENTRIES = [
  'index.ts',
  'index.mts',
  'index.js',
  'index.mjs',
  'index.cjs',
  'handler.ts',
  'handler.js',
] as const;

/** The keys of kindling.json the builder owns; everything else belongs to the control plane. */
const BUILD_KEYS = ['entry', 'bundle', 'external', 'sourceMap'] as const;

/** npm package names (scoped or not); also keeps them from escaping node_modules as paths. */
export const PACKAGE_NAME_RE = /^(?:@[a-zA-Z0-9-~][a-zA-Z0-9-._~]*\/)?[a-zA-Z0-9-~][a-zA-Z0-9-._~]*$/;

const buildKeysSchema = z.object({
  entry: z.string().min(1).optional(),
  bundle: z.boolean().optional(),
  sourceMap: z.boolean().optional(),
  external: z
    .array(z.string().regex(PACKAGE_NAME_RE, 'must be an npm package name such as "sharp" or "@scope/pkg"'))
    .optional(),
});

/** The subset of package.json the builder reads. */
export interface PackageJson {
  main?: unknown;
  dependencies?: Record<string, string>;
  [key: string]: unknown;
}

/** What {@link readBuildConfig} found in a function directory. */
export interface BuildConfig {
  /** Entry module as a normalised relative POSIX path. */
  entry: string;
  bundle: boolean;
  /**
   * Whether a bundle ships its source map (`<bundle>.map`), which points stack traces at the
   * author's sources. Default true; it is read only when an error is reported.
   */
  sourceMap: boolean;
  /** Packages shipped in node_modules instead of bundled. */
  external: string[];
  /** kindling.json without the build keys, untouched (the control plane validates it). */
  config: Record<string, unknown>;
  /** kindling.json `name`, when it is a string. */
  name: string | undefined;
  /** package.json, when there is one. */
  packageJson: PackageJson | undefined;
}

/**
 * Reads kindling.json and package.json in `dir` and resolves the entry. Rejects with
 * KINDLING_INVALID_CONFIG when a file is not valid JSON or a build key has the wrong type, and
 * KINDLING_BUILD_FAILED when no entry can be found.
 */
export async function readBuildConfig(dir: string): Promise<BuildConfig> {
  const raw = (await readJsonObject(join(dir, 'kindling.json'))) ?? {};
  const buildKeys = Object.fromEntries(BUILD_KEYS.filter((k) => k in raw).map((k) => [k, raw[k]]));
  const keys = buildKeysSchema.safeParse(buildKeys, { error: plainWords });
  if (!keys.success) {
    // `bundle must be true or false, got "yes"`: the key, what it must be, and what was read.
    const problems = describeIssues(keys.error, buildKeys, 'kindling.json');
    throw new KindlingError('KINDLING_INVALID_CONFIG', `kindling.json in ${dir}: ${problems}`, {
      problems: problems.split('; '),
    });
  }
  // `name` names the function rather than configuring it; it comes back as `name` below.
  const config = Object.fromEntries(
    Object.entries(raw).filter(([k]) => k !== 'name' && !(BUILD_KEYS as readonly string[]).includes(k)),
  );
  const packageJson = (await readJsonObject(join(dir, 'package.json'))) as PackageJson | undefined;
  const entry = await resolveEntry(dir, keys.data.entry, packageJson);
  return {
    entry,
    bundle: keys.data.bundle ?? true,
    sourceMap: keys.data.sourceMap ?? true,
    external: [...new Set(keys.data.external ?? [])].sort(),
    config,
    name: typeof raw['name'] === 'string' ? raw['name'] : undefined,
    packageJson,
  };
}

async function resolveEntry(
  dir: string,
  configured: string | undefined,
  pkg: PackageJson | undefined,
): Promise<string> {
  if (configured !== undefined) {
    const entry = normaliseRelative(configured, 'kindling.json "entry"');
    if (!(await isFile(join(dir, entry)))) {
      throw new KindlingError(
        'KINDLING_BUILD_FAILED',
        `kindling.json "entry" is ${configured}, but ${join(dir, entry)} is not a file; fix the path`,
        { entry },
      );
    }
    return entry;
  }
  if (typeof pkg?.main === 'string' && pkg.main !== '') {
    const main = normaliseRelative(pkg.main, 'package.json "main"');
    // Node resolves "main" with extensions and index files; try the same, in the same order.
    const candidates = [
      main,
      ...['.js', '.mjs', '.cjs', '.ts', '.mts'].map((e) => main + e),
      ...['index.js', 'index.ts'].map((i) => posix.join(main, i)),
    ];
    for (const c of candidates) if (await isFile(join(dir, c))) return c;
    throw new KindlingError(
      'KINDLING_BUILD_FAILED',
      `package.json "main" is ${pkg.main}, but no such file exists in ${dir}; fix "main" or set "entry" in kindling.json`,
      { main: pkg.main },
    );
  }
  for (const c of DEFAULT_ENTRIES) if (await isFile(join(dir, c))) return c;
  throw new KindlingError(
    'KINDLING_BUILD_FAILED',
    `no entry module in ${dir}: set "entry" in kindling.json or "main" in package.json, or add one of ${DEFAULT_ENTRIES.join(', ')}`,
  );
}

/** Normalises a user-given path and keeps it inside the function directory. */
function normaliseRelative(p: string, what: string): string {
  const n = posix.normalize(p.replace(/\\/g, '/')).replace(/^\.\//, '');
  if (n.startsWith('/') || n === '..' || n.startsWith('../') || n === '.' || n === '') {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `${what} is ${JSON.stringify(p)}; it must be a path inside the function directory`,
    );
  }
  return n;
}

async function readJsonObject(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new KindlingError(
      'KINDLING_INVALID_CONFIG',
      `${path} is not valid JSON: ${(err as Error).message}`,
      { path },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KindlingError('KINDLING_INVALID_CONFIG', `${path} must hold a JSON object`, { path });
  }
  return value as Record<string, unknown>;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
      return false;
    throw err;
  }
}
