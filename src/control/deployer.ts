/**
 * Deploying: turns a pushed image into a new function version, and (for the embedded platform and
 * its examples) builds and pushes a directory first.
 */
import { KindlingError } from '../core/errors.js';
import { buildImage } from '../image/builder.js';
import { BUNDLE_ENTRY_ESM } from '../image/bundler.js';
import { readImageFile } from '../image/read-file.js';
import { findNodeBuiltins } from '../sandbox/isolate/index.js';
import type { LocalRegistry } from '../image/registry.js';
import { pushImage } from '../image/registry.js';
import type { Scheduler } from './scheduler.js';
import type { FunctionStore, FunctionVersion } from './functions.js';
import { assertFunctionName } from './names.js';

/**
 * The registry repository that holds a function's images. Checks the function name first: a name the
 * function-name rule refuses must be reported by that rule, not by the (looser) repository grammar.
 */
export function imageRepository(tenant: string, name: string): string {
  assertFunctionName(name);
  return `${tenant}/${name}`;
}

export class Deployer {
  constructor(
    private readonly deps: {
      functions: FunctionStore;
      registry: LocalRegistry;
      scheduler: Scheduler;
      buildCacheDir: string;
    },
  ) {}

  /**
   * Creates a version from an image already in the registry (pushed under the function's
   * repository). Holds the registry's write lock shared from the check of the image to the new
   * version, so a garbage collection sees either the version or no image to keep.
   */
  async deployImage(tenant: string, name: string, digest: string, config: unknown): Promise<FunctionVersion> {
    const repo = imageRepository(tenant, name);
    const version = await this.deps.registry.writeLock.shared(() =>
      this.createVersion(tenant, name, repo, digest, config),
    );
    for (const worker of this.deps.scheduler.all()) worker.keepWarm(version);
    return version;
  }

  private async createVersion(
    tenant: string,
    name: string,
    repo: string,
    digest: string,
    config: unknown,
  ): Promise<FunctionVersion> {
    const { manifest } = await this.deps.registry.getManifest(repo, digest).catch((err: unknown) => {
      if (KindlingError.is(err) && err.code === 'KINDLING_MANIFEST_UNKNOWN') {
        throw new KindlingError(
          'KINDLING_MANIFEST_UNKNOWN',
          `image ${digest} is not in repository ${repo}; push it first (kindling deploy does both)`,
          { repository: repo, digest },
        );
      }
      throw err;
    });
    if (!manifest.files.some((f) => f.path === manifest.entry)) {
      throw new KindlingError(
        'KINDLING_BAD_REQUEST',
        `image ${digest} lists entry ${manifest.entry} but holds no such file`,
      );
    }
    await this.checkTier(repo, digest, manifest.entry, config);
    return this.deps.functions.createVersion({
      tenant,
      name,
      imageRepo: repo,
      imageDigest: digest,
      entry: manifest.entry,
      config,
    });
  }

  /**
   * The isolate tier offers no Node built-ins: a function that requires one is refused at deploy,
   * naming the modules, rather than failing at its first cold start.
   */
  private async checkTier(repo: string, digest: string, entry: string, config: unknown): Promise<void> {
    if ((config as { tier?: unknown } | undefined)?.tier !== 'isolate') return;
    const source = (await readImageFile(this.deps.registry, repo, digest, entry)).toString('utf8');
    const builtins = findNodeBuiltins(source);
    // A bundle of code with top-level await is an ES module whose banner gives it a `require`
    // through `node:module`: the author never imported it, so say what did.
    if (entry === BUNDLE_ENTRY_ESM && builtins.includes('module')) {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        'the isolate tier runs CommonJS bundles, and top-level await made this one an ES module that needs Node\'s "module" built-in; ' +
          'move the awaited work into the handler (or a lazily awaited promise), or deploy it with tier "process"',
        { builtins },
      );
    }
    if (builtins.length > 0) {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `the isolate tier has no Node built-in modules, and this function uses ${builtins.map((b) => `"${b}"`).join(', ')}; deploy it with tier "process" (or "container"), or remove the dependency`,
        { builtins },
      );
    }
  }

  /**
   * Builds `dir`, pushes it to the local registry and deploys it. When the newest version already has
   * the same image and configuration, returns it instead of making an identical one.
   */
  async deployDirectory(
    tenant: string,
    dir: string,
    name?: string,
  ): Promise<{ version: FunctionVersion; unchanged: boolean }> {
    const built = await buildImage(dir, { cacheDir: this.deps.buildCacheDir });
    const fnName = name ?? built.name;
    if (!fnName)
      throw new KindlingError(
        'KINDLING_BAD_REQUEST',
        `no function name: set "name" in ${dir}/kindling.json or pass one`,
      );
    const repo = imageRepository(tenant, fnName);
    const pushed = await pushImage(built, this.deps.registry, repo, 'latest');
    try {
      const current = this.deps.functions.resolve(tenant, fnName);
      const sameConfig =
        JSON.stringify(current.config) === JSON.stringify(this.deps.functions.normalizeConfig(built.config));
      if (current.imageDigest === pushed.digest && sameConfig) return { version: current, unchanged: true };
    } catch (err) {
      if (!KindlingError.is(err) || err.code !== 'KINDLING_FUNCTION_NOT_FOUND') throw err;
    }
    return { version: await this.deployImage(tenant, fnName, pushed.digest, built.config), unchanged: false };
  }
}
