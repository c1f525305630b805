/**
 * `npm run bench:lazy`: what lazy loading with on-demand reads buys and costs on one host, against
 * fetching the whole image, in the same run.
 *
 * The function (built by the real image builder, `"bundle": false`, pushed to a local registry): an
 * entry that, on its first request, requires a package of 100 modules in `node_modules` and reads
 * one of eight 1 MiB data files (incompressible); the rest of the image is never read. Each run
 * starts from an empty block cache and images directory, fetches blocks from the registry through
 * a source limited to `--mbps` (a token bucket; also unlimited, the disk's own speed), and times the
 * first response from nothing:
 * - `whole`: `materializeImage` (every block fetched, verified, decompressed, written), start a
 *   process-tier instance, invoke;
 * - `lazy`: fetch the working set (the entry's blocks), `materializeLazily`, start the instance with
 *   the pending files, invoke: the package and the data file are faulted in on demand (the rest is
 *   held back until the response, as a cluster host holds it until its sandbox has started).
 * Plus the checks' own cost: the first request's time with a pending list naming only an unread
 * file (every `require` and file call checked, nothing fetched) against no list.
 *
 *   npm run bench:lazy                # 9 runs per variant (about 1 minute)
 *   npm run bench:lazy -- --runs 3 --mbps 50
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/core/clock.js';
import { TokenBucket } from '../src/distribution/token-bucket.js';
import { BlobStore } from '../src/image/blob-store.js';
import { buildImage } from '../src/image/builder.js';
import type { Digest, ImageManifest } from '../src/image/manifest.js';
import { blocksOfFile, materializeImage, materializeLazily, PENDING_LIST } from '../src/image/materialize.js';
import { LocalRegistry, pushImage } from '../src/image/registry.js';
import type { BlockSource } from '../src/image/source.js';
import { createProcessTier } from '../src/sandbox/process/index.js';
import type { InstanceSpec, PendingFiles } from '../src/sandbox/tier.js';
import { barChart, svgDocument } from './lib/svg-plot.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const MiB = 1024 * 1024;
const REPO = 'bench/lazy';
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '9' },
    mbps: { type: 'string', default: '100' },
  },
});
const runs = Number(values.runs);
const mbps = Number(values.mbps);
if (!(Number.isInteger(runs) && runs > 0))
  throw new Error(`--runs must be a positive integer, got ${values.runs}`);
if (!(mbps > 0)) throw new Error(`--mbps must be a positive number, got ${values.mbps}`);

/** A source that counts the bytes it hands out and, given a rate, hands them out no faster. */
function metered(inner: BlockSource, bitsPerSecond: number | undefined): BlockSource & { bytes: number } {
  const bucket = bitsPerSecond
    ? new TokenBucket({ bytesPerSecond: bitsPerSecond / 8, burstBytes: 64 * 1024, clock: systemClock })
    : undefined;
  const counter = {
    kind: inner.kind,
    bytes: 0,
    getManifest: (name: string, ref: string) => inner.getManifest(name, ref),
    getBlob: async (name: string, digest: Digest) => {
      const bytes = await inner.getBlob(name, digest);
      await bucket?.take(bytes.length);
      counter.bytes += bytes.length;
      return bytes;
    },
  };
  return counter;
}

/** The function: its first request requires the package and reads one data file. */
function writeFunction(dir: string): void {
  mkdirSync(join(dir, 'node_modules', 'big-dep', 'lib'), { recursive: true });
  mkdirSync(join(dir, 'data'));
  writeFileSync(
    join(dir, 'index.cjs'),
    `const fs = require('node:fs');
exports.handler = async (event) => {
  if (event.warm) return { warm: true };
  const dep = require('big-dep');
  const data = fs.readFileSync(__dirname + '/data/part-' + (event.part ?? 0) + '.bin');
  return { modules: dep.count, bytes: data.length };
};
`,
  );
  writeFileSync(
    join(dir, 'kindling.json'),
    JSON.stringify({ name: 'lazy-bench', bundle: false, entry: 'index.cjs' }),
  );
  const pkg = join(dir, 'node_modules', 'big-dep');
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'big-dep', main: 'lib/index.js' }));
  const names = Array.from({ length: 100 }, (_, i) => `m${String(i).padStart(3, '0')}`);
  writeFileSync(
    join(pkg, 'lib', 'index.js'),
    `${names.map((n) => `require('./${n}.js');`).join('\n')}\nexports.count = ${names.length};\n`,
  );
  for (const n of names) {
    // ~4 KiB of ordinary JavaScript each.
    const body = Array.from(
      { length: 60 },
      (_, i) => `exports.f${i} = (x) => x * ${i} + ${JSON.stringify(n)}.length;`,
    );
    writeFileSync(join(pkg, 'lib', `${n}.js`), body.join('\n') + '\n');
  }
  for (let k = 0; k < 8; k++) writeFileSync(join(dir, 'data', `part-${k}.bin`), randomBytes(MiB));
}

interface Sample {
  firstResponseMs: number;
  /** Compressed bytes from the registry before the instance could start. */
  bytesBeforeStart: number;
  /** And by the first response (the faults). */
  bytesByResponse: number;
  filesFaulted: number;
  invokeMs: number;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'kindling-bench-lazy-'));
  const tier = createProcessTier();
  // The token bucket waits on the system clock's timers, which never keep a process alive alone.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const fnDir = join(work, 'fn');
    mkdirSync(fnDir);
    writeFunction(fnDir);
    const registry = new LocalRegistry(join(work, 'registry'));
    const image = await buildImage(fnDir);
    await pushImage(image, registry, REPO, 'v1');
    const manifest: ImageManifest = image.manifest;
    const entry = manifest.files.find((f) => f.path === 'index.cjs');
    if (!entry) throw new Error('the image has no index.cjs');
    const workingSet = new Set(blocksOfFile(manifest, entry));
    const imageBytes = image.stats.compressedBytes;
    console.log(
      `image: ${manifest.files.length} files, ${round(image.stats.bytes / MiB)} MiB (${round(imageBytes / MiB)} MiB compressed, ${image.blocks.size} blocks); working set ${workingSet.size} block(s)`,
    );

    let seq = 0;
    const spec = (codeDir: string, pending?: PendingFiles): InstanceSpec => ({
      instanceId: `lazy-bench-${++seq}`,
      functionName: 'lazy-bench',
      functionVersion: 1,
      codeDir,
      entry: 'index.cjs',
      env: {},
      memoryMb: 256,
      concurrency: 1,
      logLimitBytes: 64 * 1024,
      ...(pending ? { pending } : {}),
    });
    const invoke = async (codeDir: string, pending?: PendingFiles) => {
      const instance = await tier.start(spec(codeDir, pending));
      try {
        const t0 = performance.now();
        const out = await instance.invoke({ requestId: `r${seq}`, event: { part: 3 }, timeoutMs: 60_000 });
        const invokeMs = performance.now() - t0;
        if (!out.ok) throw new Error(`the function failed: ${out.error.message}`);
        const r = out.result as { modules: number; bytes: number };
        if (r.modules !== 100 || r.bytes !== MiB) throw new Error(`unexpected result ${JSON.stringify(r)}`);
        return invokeMs;
      } finally {
        await instance.stop();
      }
    };
    const fresh = () => {
      const dir = mkdtempSync(join(work, 'run-'));
      return { dir, cache: new BlobStore(join(dir, 'cache')), imagesDir: join(dir, 'images') };
    };

    const whole = async (bitsPerSecond: number | undefined): Promise<Sample> => {
      const { dir, cache, imagesDir } = fresh();
      const source = metered(registry, bitsPerSecond);
      const t0 = performance.now();
      const m = await materializeImage({ source, name: REPO, ref: 'v1', cache, imagesDir });
      const bytesBeforeStart = source.bytes;
      const invokeMs = await invoke(m.dir);
      const firstResponseMs = performance.now() - t0;
      rmSync(dir, { recursive: true, force: true });
      return { firstResponseMs, bytesBeforeStart, bytesByResponse: source.bytes, filesFaulted: 0, invokeMs };
    };

    const lazy = async (bitsPerSecond: number | undefined): Promise<Sample> => {
      const { dir, cache, imagesDir } = fresh();
      const source = metered(registry, bitsPerSecond);
      const t0 = performance.now();
      // As a cluster host: the working set's blocks first, then the files they hold.
      for (const d of workingSet) await cache.putTrusted(d, await source.getBlob(REPO, d));
      let releaseRest!: () => void;
      const rest = new Promise<void>((r) => (releaseRest = r));
      const demand = async (blocks: Digest[]): Promise<void> => {
        await Promise.all(
          blocks.map(async (d) => {
            if (!(await cache.has(d))) await cache.putTrusted(d, await source.getBlob(REPO, d));
          }),
        );
      };
      const m = await materializeLazily(
        { source, name: REPO, ref: 'v1', cache, imagesDir },
        workingSet,
        rest,
        demand,
      );
      const bytesBeforeStart = source.bytes;
      let filesFaulted = 0;
      const pending: PendingFiles = {
        listFile: PENDING_LIST,
        fetch: (paths) => {
          filesFaulted += paths.length;
          return m.faultIn(paths);
        },
      };
      const invokeMs = await invoke(m.dir, pending);
      const firstResponseMs = performance.now() - t0;
      const bytesByResponse = source.bytes;
      releaseRest();
      await m.complete;
      rmSync(dir, { recursive: true, force: true });
      return { firstResponseMs, bytesBeforeStart, bytesByResponse, filesFaulted, invokeMs };
    };

    const summarise = (samples: Sample[]) => ({
      firstResponseP50Ms: round(median(samples.map((s) => s.firstResponseMs))),
      invokeP50Ms: round(median(samples.map((s) => s.invokeMs))),
      fetchedKiBBeforeStart: round(median(samples.map((s) => s.bytesBeforeStart)) / 1024, 1),
      fetchedKiBByFirstResponse: round(median(samples.map((s) => s.bytesByResponse)) / 1024, 1),
      filesFaulted: median(samples.map((s) => s.filesFaulted)),
    });

    // A warm-up of each, untimed (the first start pays for the page cache and the JIT).
    await whole(undefined);
    await lazy(undefined);
    const variants: Array<{ label: string; sourceMbps: number | null }> = [
      { label: 'unlimited (local disk)', sourceMbps: null },
      { label: `${mbps} Mbit/s`, sourceMbps: mbps },
    ];
    const results = [];
    for (const v of variants) {
      const bits = v.sourceMbps === null ? undefined : v.sourceMbps * 1e6;
      const w: Sample[] = [];
      const l: Sample[] = [];
      for (let i = 0; i < runs; i++) {
        // Alternate which goes first, so both see the same machine.
        if (i % 2 === 0) {
          w.push(await whole(bits));
          l.push(await lazy(bits));
        } else {
          l.push(await lazy(bits));
          w.push(await whole(bits));
        }
      }
      const row = { source: v.label, sourceMbps: v.sourceMbps, whole: summarise(w), lazy: summarise(l) };
      const ratio = round(row.lazy.firstResponseP50Ms / row.whole.firstResponseP50Ms, 3);
      results.push({ ...row, lazyOverWhole: ratio });
      console.log(v.label, JSON.stringify({ ...row, lazyOverWhole: ratio }));
    }

    // The checks alone: every file local; a pending list that names one file nobody reads.
    const { dir, cache, imagesDir } = fresh();
    const m = await materializeImage({ source: registry, name: REPO, ref: 'v1', cache, imagesDir });
    const listed = join(m.dir, PENDING_LIST);
    const withChecks: number[] = [];
    const without: number[] = [];
    for (let i = 0; i < runs; i++) {
      writeFileSync(listed, JSON.stringify(['data/part-7.bin']));
      withChecks.push(await invoke(m.dir, { listFile: PENDING_LIST, fetch: async () => {} }));
      rmSync(listed);
      without.push(await invoke(m.dir));
    }
    rmSync(dir, { recursive: true, force: true });
    const checks = {
      firstInvokeWithChecksP50Ms: round(median(withChecks)),
      firstInvokeWithoutP50Ms: round(median(without)),
    };
    console.log('checks', JSON.stringify(checks));

    const result = {
      image: {
        files: manifest.files.length,
        mib: round(image.stats.bytes / MiB),
        compressedMiB: round(imageBytes / MiB, 3),
        blocks: image.blocks.size,
        workingSetBlocks: workingSet.size,
      },
      firstRequestReads: '100 modules of one package (~400 KiB) and one 1 MiB data file of eight',
      runs,
      variants: results,
      checks: {
        ...checks,
        ratio: round(checks.firstInvokeWithChecksP50Ms / checks.firstInvokeWithoutP50Ms, 3),
      },
      meta: { node: process.version, date: new Date().toISOString() },
    };
    const out = join(repo, 'bench', 'results');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'lazy.json'), JSON.stringify(result, null, 2) + '\n');
    writeFileSync(
      join(out, 'lazy.svg'),
      svgDocument(
        [
          barChart(
            'First response from an empty host',
            'ms',
            results.map((r) => ({
              label: r.source,
              bars: [
                { name: 'whole image', value: r.whole.firstResponseP50Ms },
                { name: 'lazy + on-demand', value: r.lazy.firstResponseP50Ms },
              ],
            })),
          ),
          barChart('Fetched from the registry by the first response', 'KiB', [
            {
              label: 'compressed KiB',
              bars: [
                { name: 'whole image', value: results[0]?.whole.fetchedKiBByFirstResponse ?? 0 },
                { name: 'lazy + on-demand', value: results[0]?.lazy.fetchedKiBByFirstResponse ?? 0 },
              ],
            },
          ]),
        ],
        460,
        300,
      ),
    );
    console.log('wrote bench/results/lazy.json and lazy.svg');
  } finally {
    clearInterval(keepAlive);
    await tier.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
