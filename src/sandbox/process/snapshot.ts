/**
 * The snapshot start path: a V8 startup snapshot (`node --build-snapshot`) taken after the runtime
 * shim AND the function's top-level code have run, so a cold start restores an initialised heap
 * instead of paying the function's init again. Init is paid once, when the snapshot is built.
 *
 * Node 20 builds snapshots from a single script that may require only built-in modules, so the
 * snapshot entry inlines the runtime (bundled once by esbuild) and the function's CommonJS bundle,
 * each in a CommonJS wrapper with its real `__filename` and `__dirname`. A function is
 * snapshot-safe when its top-level code leaves nothing V8 cannot serialise (open sockets, timers,
 * native addons, packages outside its bundle); when the build fails, the reason is kept and the
 * function starts by the other paths.
 *
 * What a restored instance shares with its siblings: every value computed at init (as any warm
 * instance would); Math.random is reseeded by V8 and `node:crypto` draws fresh entropy.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { build } from 'esbuild';
import { KindlingError } from '../../core/errors.js';
import { heapFlags, heapLimitsFor } from './memory.js';

/** What a snapshot is built from. */
export interface SnapshotInput {
  /** Absolute path of the function's CommonJS entry (an ES module cannot be snapshotted here). */
  entryPath: string;
  codeDir: string;
  memoryMb: number;
  /** The environment the function's top-level code runs with (it may read it at init). */
  env: Record<string, string>;
}

/** Beside a function's snapshot blob: the code directory it was taken from. */
const CODE_SUFFIX = '.code';

/** Builds and caches snapshots for one process tier. */
export class SnapshotStore {
  private runtimeSource: Promise<string> | undefined;
  private readonly building = new Map<string, Promise<string>>();
  private readonly failed = new Map<string, string>();
  /** Keys by input: image directories are immutable, so an entry's content never changes under it. */
  private readonly keys = new Map<string, string>();

  constructor(
    private readonly dir: string,
    private readonly runtimePath: string,
    private readonly nodePath: string,
    private readonly buildTimeoutMs = 30_000,
  ) {}

  /** The blob for `input` if it is built, else undefined (and a build is started in the background). */
  ready(input: SnapshotInput): string | undefined {
    if (!input.entryPath.endsWith('.cjs')) return undefined;
    const key = this.keyOf(input);
    return this.readyOrBuilding(key, (blob) => this.build(input, key, blob));
  }

  /**
   * The blob of `key` if it is built and not given up, else undefined, with its build (`build`,
   * writing the given path) started in the background unless it failed or is running.
   */
  private readyOrBuilding(key: string, build: (blob: string) => Promise<string>): string | undefined {
    const blob = join(this.dir, `${key}.blob`);
    if (this.failed.has(key)) return undefined; // a discarded blob, even if its file is still there
    if (existsSync(blob)) return blob;
    if (!this.building.has(key)) {
      const work = build(blob).finally(() => this.building.delete(key));
      this.building.set(key, work);
      work.catch((err: unknown) => this.failed.set(key, (err as Error).message));
    }
    return undefined;
  }

  /**
   * The snapshot of the runtime shim alone for a memory size (the heap flags are part of a
   * snapshot), or undefined while it is built in the background. A start from it skips loading the
   * shim and its modules; the function is then loaded as in a plain start.
   */
  runtimeReady(memoryMb: number): string | undefined {
    const key = createHash('sha256')
      .update(process.version)
      .update('\0runtime\0')
      .update(String(memoryMb))
      .update(readFileSyncCached(this.runtimePath))
      .digest('hex')
      .slice(0, 32);
    return this.readyOrBuilding(key, (blob) =>
      this.buildScript(key, blob, memoryMb, tmpdir(), {}, async (script) =>
        entryScript(
          script,
          [{ name: '__kindlingRuntime', source: await this.runtime(), filename: this.runtimePath }],
          [
            "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => __kindlingRuntime.boot());",
            '',
          ],
        ),
      ),
    );
  }

  /** Waits for the runtime snapshot of `memoryMb` (starting its build if needed). */
  async runtimeBlob(memoryMb: number): Promise<string> {
    for (;;) {
      const blob = this.runtimeReady(memoryMb);
      if (blob) return blob;
      const pending = [...this.building.values()];
      if (pending.length === 0)
        throw new KindlingError('KINDLING_INIT_FAILED', 'the runtime snapshot could not be built');
      await Promise.allSettled(pending);
    }
  }

  /** Builds (or finds) the blob for `input`; rejects with KINDLING_INIT_FAILED saying why it is not snapshot-safe. */
  async ensure(input: SnapshotInput): Promise<string> {
    const key = this.keyOf(input);
    const blob = join(this.dir, `${key}.blob`);
    const failure = this.failed.get(key);
    if (failure) throw new KindlingError('KINDLING_INIT_FAILED', failure);
    if (existsSync(blob)) return blob;
    this.ready(input);
    const work = this.building.get(key);
    if (!work)
      throw new KindlingError(
        'KINDLING_INIT_FAILED',
        this.failed.get(key) ?? 'snapshots need a CommonJS entry',
      );
    return work.catch((err: unknown) => {
      throw new KindlingError('KINDLING_INIT_FAILED', (err as Error).message);
    });
  }

  /** Why the snapshot of `input` could not be built or used, if it could not. */
  failure(input: SnapshotInput): string | undefined {
    return this.failed.get(this.keyOf(input));
  }

  /**
   * Takes a built blob (a function's or the runtime's) out of use: deleted, and never built again
   * by this store, for `reason`. For a blob whose restore crashed: V8 has crashed restoring some
   * heaps it had serialised (Node 20: concurrent marking after restoring a heap holding tens of
   * MiB of Buffers), and a start must not keep taking that path.
   */
  discard(blob: string, reason: string): void {
    const key = basename(blob, '.blob');
    this.failed.set(key, reason);
    rmSync(blob, { force: true });
    rmSync(join(this.dir, `${key}${CODE_SUFFIX}`), { force: true });
  }

  private keyOf(input: SnapshotInput): string {
    const memo = `${input.entryPath}\0${input.memoryMb}\0${JSON.stringify(input.env)}`;
    let key = this.keys.get(memo);
    if (!key) {
      key = this.hashOf(input);
      this.keys.set(memo, key);
    }
    return key;
  }

  private hashOf(input: SnapshotInput): string {
    const hash = createHash('sha256');
    hash.update(process.version).update('\0').update(String(input.memoryMb)).update('\0');
    hash.update(JSON.stringify(input.env)).update('\0').update(input.entryPath).update('\0');
    hash.update(readFileSync(input.entryPath));
    hash.update(readFileSync(this.runtimePath));
    return hash.digest('hex').slice(0, 32);
  }

  /**
   * Deletes the function snapshots taken from code in `codeDirs` or in a directory that is gone
   * (each blob's `.code` file says which; the runtime's snapshots have none and stay); with
   * `dryRun`, only counts them.
   */
  async forgetCode(
    codeDirs: ReadonlySet<string>,
    dryRun: boolean,
  ): Promise<{ removed: number; bytes: number }> {
    const found = { removed: 0, bytes: 0 };
    const names = existsSync(this.dir) ? readdirSync(this.dir) : [];
    for (const name of names.filter((n) => n.endsWith(CODE_SUFFIX))) {
      const key = name.slice(0, -CODE_SUFFIX.length);
      let codeDir: unknown;
      try {
        codeDir = (JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as { codeDir?: unknown }).codeDir;
      } catch {
        continue; // being written, or damaged: the next collection looks again
      }
      if (typeof codeDir !== 'string' || (!codeDirs.has(codeDir) && existsSync(codeDir))) continue;
      const blob = join(this.dir, `${key}.blob`);
      found.removed++;
      found.bytes += existsSync(blob) ? statSync(blob).size : 0;
      if (dryRun) continue;
      rmSync(blob, { force: true });
      rmSync(join(this.dir, name), { force: true });
      for (const [memo, k] of this.keys) if (k === key) this.keys.delete(memo);
    }
    return found;
  }

  private async build(input: SnapshotInput, key: string, blob: string): Promise<string> {
    const user = readFileSync(input.entryPath, 'utf8');
    const built = await this.buildScript(
      key,
      blob,
      input.memoryMb,
      input.codeDir,
      input.env,
      async (script) =>
        entryScript(
          script,
          [
            { name: '__kindlingRuntime', source: await this.runtime(), filename: this.runtimePath },
            { name: '__kindlingFunction', source: user, filename: input.entryPath },
          ],
          [
            // Anything the init left running (a timer, a socket) would keep the build alive and could not
            // be serialised anyway: refuse at once, naming it.
            // (Pipes and TTYs are the build's own stdio, opened by Node's warnings about built-ins.)
            "const __kindlingHandles = process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');",
            'if (__kindlingHandles.length > 0) {',
            "  console.error('kindling: init leaves ' + __kindlingHandles.join(', ') + ' active');",
            '  process.exit(3);',
            '}',
            "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => __kindlingRuntime.boot({ preloaded: __kindlingFunction }));",
            '',
          ],
        ),
    );
    // Which code it was taken from, for garbage collection once that code is gone.
    writeFileSync(join(this.dir, `${key}${CODE_SUFFIX}`), JSON.stringify({ codeDir: input.codeDir }) + '\n');
    return built;
  }

  /** The runtime shim bundled into one script (once per store). */
  private runtime(): Promise<string> {
    return (this.runtimeSource ??= bundleRuntime(this.runtimePath));
  }

  /**
   * Writes the snapshot entry script (`text` of its path) and runs `node --build-snapshot` on it
   * with the instance's heap flags.
   */
  private async buildScript(
    key: string,
    blob: string,
    memoryMb: number,
    cwd: string,
    env: Record<string, string>,
    text: (script: string) => Promise<string>,
  ): Promise<string> {
    mkdirSync(this.dir, { recursive: true });
    const script = join(this.dir, `${key}.entry.cjs`);
    writeFileSync(script, await text(script));
    const tmp = `${blob}.${process.pid}.tmp`;
    try {
      await run(
        this.nodePath,
        [...heapFlags(heapLimitsFor(memoryMb)), '--snapshot-blob', tmp, '--build-snapshot', script],
        cwd,
        env,
        this.buildTimeoutMs,
      );
      renameSync(tmp, blob);
      return blob;
    } finally {
      rmSync(tmp, { force: true });
      rmSync(script, { force: true });
    }
  }
}

/** Reads a file once per process: the runtime shim does not change while the platform runs. */
const fileCache = new Map<string, Buffer>();
function readFileSyncCached(path: string): Buffer {
  let bytes = fileCache.get(path);
  if (!bytes) {
    bytes = readFileSync(path);
    fileCache.set(path, bytes);
  }
  return bytes;
}

/** One file holding the runtime shim and the protocol module it requires. */
async function bundleRuntime(runtimePath: string): Promise<string> {
  const result = await build({
    entryPoints: [runtimePath],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/**
 * The snapshot's entry script at `script`: `'use strict'`, each part wrapped as CommonJS, then
 * `tail`. It tells the runtime which of its lines each part's source occupies
 * (`setScriptRegions`): stack frames of a restored process name the script, and the runtime writes
 * them with each part's own file and line again, for the author and for the source map.
 */
function entryScript(
  script: string,
  parts: { name: string; source: string; filename: string }[],
  tail: string[],
): string {
  const lines = ["'use strict';"];
  const regions: { firstLine: number; lineCount: number; file: string }[] = [];
  let next = 2; // the line the next part's wrapper starts on
  for (const part of parts) {
    const wrapped = wrapCommonJs(part.name, part.source, part.filename);
    // The wrapper's first line, then the source from the start of a line.
    regions.push({ firstLine: next + 1, lineCount: part.source.split('\n').length, file: part.filename });
    lines.push(wrapped);
    next += wrapped.split('\n').length;
  }
  lines.push(`__kindlingRuntime.setScriptRegions(${JSON.stringify(script)}, ${JSON.stringify(regions)});`);
  return [...lines, ...tail].join('\n');
}

/** `const name = module.exports` of `source`, evaluated as CommonJS with its real file name. */
function wrapCommonJs(name: string, source: string, filename: string): string {
  return (
    `const ${name} = (() => { const module = { exports: {} }; ` +
    `(function (exports, require, module, __filename, __dirname) {\n${source}\n})` +
    `(module.exports, require, module, ${JSON.stringify(filename)}, ${JSON.stringify(dirname(filename))}); ` +
    `return module.exports; })();`
  );
}

/** Runs the snapshot build; rejects with the tail of its stderr when it fails. */
function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const lines = stderr.split('\n').map((l) => l.trim());
      // Node prints a warning per built-in it has not verified for snapshots; the cause is elsewhere.
      const why = (
        lines.find((l) => l.startsWith('kindling:')) ??
        lines.filter((l) => /Error/.test(l)).slice(-1)[0] ??
        ''
      ).replace(/^kindling: /, '');
      reject(
        new Error(
          `not snapshot-safe: the snapshot build exited with ${signal ?? code}${why ? `: ${why}` : ''}`,
        ),
      );
    });
  });
}
