/**
 * Builds an image from a function directory: read the build config, install dependencies when
 * needed, bundle (or take the files as they are), pack into blocks.
 */
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import { KindlingError } from '../core/errors.js';
import { readBuildConfig } from './build-config.js';
import { bundleEntry } from './bundler.js';
import { collectDirectory, collectPackages, type SourceFile } from './file-tree.js';
import type { Digest, ImageManifest } from './manifest.js';
import { installDependencies } from './npm-install.js';
import { packFiles } from './packer.js';

/**
 * A step of a build, for a progress display. `install` and `bundle` are reported once as they
 * start; `pack` after every block, with `done`/`total` counting blocks and `bytesDone`/`bytesTotal`
 * uncompressed bytes.
 */
export interface BuildProgress {
  phase: 'install' | 'bundle' | 'pack';
  done?: number;
  total?: number;
  bytesDone?: number;
  bytesTotal?: number;
}

/** Options of {@link buildImage}. */
export interface BuildOptions {
  /**
   * Where `npm install` results are cached, one directory per package.json + lockfile. Used only
   * when package.json has dependencies and the directory has no node_modules. Default:
   * `<os tmpdir>/kindling-deps`.
   */
  cacheDir?: string;
  onProgress?: (event: BuildProgress) => void;
  /** Measures `stats.buildMs`. Default: the system clock. */
  clock?: Clock;
}

/** Numbers about a build, for the CLI and the deploy record. */
export interface BuildStats {
  files: number;
  /** Uncompressed bytes of all files. */
  bytes: number;
  /** Blocks listed in the manifest. */
  blocks: number;
  /** Distinct blocks (identical blocks, e.g. runs of zeros, are stored once). */
  uniqueBlocks: number;
  /** Compressed bytes of the distinct blocks. */
  compressedBytes: number;
  buildMs: number;
}

/** A built image, ready for {@link pushImage}. */
export interface BuiltImage {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  /** Digest of `manifestBytes`: the image's identity. */
  digest: Digest;
  /** Compressed blocks by digest. */
  blocks: Map<Digest, Buffer>;
  stats: BuildStats;
  /** kindling.json without the build keys (`entry`, `bundle`, `external`) and `name`: the function configuration. */
  config: Record<string, unknown>;
  /** kindling.json `name`, when it is a string. */
  name: string | undefined;
  /** Things the user may want to know: esbuild warnings, skipped symlinks. */
  warnings: string[];
}

/**
 * Builds the function in `dir`.
 *
 * With `bundle: true` (the default) the image holds `index.mjs`, an esbuild bundle of the entry
 * (TypeScript, ESM or CommonJS) and its dependencies, plus `node_modules/` for the packages in
 * `external`. With `bundle: false` it holds the directory as it is (minus .git, .kindling and
 * node_modules/.cache) and the entry as given. Rejects with KINDLING_INVALID_CONFIG for a bad
 * kindling.json and KINDLING_BUILD_FAILED when the code does not build.
 */
export async function buildImage(dir: string, options: BuildOptions = {}): Promise<BuiltImage> {
  const clock = options.clock ?? systemClock;
  const started = clock.monotonic();
  const cfg = await readBuildConfig(dir);

  // Dependencies come from the directory's node_modules, or from an install into the cache.
  let nodeModules: string | undefined;
  let installed = false;
  if (await isDirectory(join(dir, 'node_modules'))) {
    nodeModules = join(dir, 'node_modules');
  } else if (Object.keys(cfg.packageJson?.dependencies ?? {}).length > 0) {
    options.onProgress?.({ phase: 'install' });
    nodeModules = await installDependencies(dir, options.cacheDir ?? join(tmpdir(), 'kindling-deps'));
    installed = true;
  }

  const warnings: string[] = [];
  let files: SourceFile[];
  let entry: string;
  if (cfg.bundle) {
    options.onProgress?.({ phase: 'bundle' });
    const out = await bundleEntry({
      dir,
      entry: cfg.entry,
      external: cfg.external,
      nodePaths: installed && nodeModules ? [nodeModules] : [],
      sourceMap: cfg.sourceMap,
    });
    warnings.push(...out.warnings);
    files = [{ path: out.entry, mode: 0o644, size: out.code.length, source: { bytes: out.code } }];
    if (out.map)
      files.push({ path: `${out.entry}.map`, mode: 0o644, size: out.map.length, source: { bytes: out.map } });
    if (cfg.external.length > 0) {
      if (!nodeModules) {
        throw new KindlingError(
          'KINDLING_BUILD_FAILED',
          `kindling.json "external" lists ${cfg.external.join(', ')}, but ${dir} has no node_modules and package.json no dependencies; add them to package.json "dependencies"`,
        );
      }
      const pkgs = await collectPackages(nodeModules, cfg.external);
      files.push(...pkgs.files);
      warnings.push(...pkgs.warnings);
    }
    entry = out.entry;
  } else {
    if (!/\.(?:js|mjs|cjs)$/.test(cfg.entry)) {
      throw new KindlingError(
        'KINDLING_BUILD_FAILED',
        `entry ${cfg.entry} is not JavaScript, and with "bundle": false it is shipped as it is; Node 20 cannot run it. Set "bundle": true or point "entry" at compiled .js/.mjs/.cjs`,
        { entry: cfg.entry },
      );
    }
    const own = await collectDirectory(dir);
    files = own.files;
    warnings.push(...own.warnings);
    if (installed && nodeModules) {
      const deps = await collectDirectory(nodeModules, 'node_modules');
      files.push(...deps.files);
      warnings.push(...deps.warnings);
    }
    entry = cfg.entry;
  }

  const packed = await packFiles(files, entry, (p) =>
    options.onProgress?.({
      phase: 'pack',
      done: p.blocksDone,
      total: p.blocksTotal,
      bytesDone: p.bytesDone,
      bytesTotal: p.bytesTotal,
    }),
  );
  const blocks = packed.manifest.layers.reduce((n, l) => n + l.blocks.length, 0);
  let compressedBytes = 0;
  for (const b of packed.blocks.values()) compressedBytes += b.length;
  return {
    ...packed,
    stats: {
      files: files.length,
      bytes: files.reduce((n, f) => n + f.size, 0),
      blocks,
      uniqueBlocks: packed.blocks.size,
      compressedBytes,
      buildMs: clock.monotonic() - started,
    },
    config: cfg.config,
    name: cfg.name,
    warnings,
  };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
