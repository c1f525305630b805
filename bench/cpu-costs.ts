/**
 * `npm run bench:cpu`: what moving image blocks costs in CPU on this machine, per MiB, for the
 * simulator's CPU model (`src/sim/cpu-costs.ts` reads the result; `kindling sim calibration` uses it).
 *
 * A real image — a function like `npm run bench:dist`'s (incompressible files in `node_modules`),
 * built by the real image builder into 512 KiB gzip blocks — goes through Kindling's real data
 * path, each role in its own process so each process's `process.cpuUsage()` (user + system, all
 * threads) is one side's cost:
 * - `fetch`: a worker's {@link BlockFetcher} with its {@link RemoteSourceDirectory} and
 *   {@link HttpTransport}: HTTP receive, sha256 verification, the store's write (and its own sha256);
 * - `peer`: a worker's peer blob server: read from the block store, verify, send;
 * - `control`: the control plane's distribution API answering the fetcher's batched sources and
 *   stored requests (tree strategy, as cluster mode runs it).
 * Paths: `netns` — the three processes in network namespaces joined by veth pairs shaped with tc
 * (`src/cluster/link-shaping.ts`; 100 Mbit/s hosts, a 200 Mbit/s control plane), as the test cluster runs them (needs
 * root and iproute2; skipped otherwise, said so); `loopback` — the same processes on 127.0.0.1,
 * unshaped. Plus materialisation: the CPU time of the real `materializeImage` writing the image's
 * files from a local block cache (read, verify, decompress, write), in a process of its own. And, on the
 * netns path, the goodput of a plain TCP stream over one shaped 100 Mbit/s link (no Kindling code:
 * Ethernet, IP and TCP headers and the shaper's own behaviour), as a fraction of the nominal
 * rate: what a shaped link delivers to any application.
 *
 * Each path runs a warm-up fetch and `--passes` fetches of `--mib` MiB (fresh store each time) and
 * keeps the median per-MiB cost of each role. Every role runs twice per path, with glibc malloc
 * tuned as a local cluster starts its processes (`src/cluster/malloc-tuning.ts`) and at glibc's
 * defaults, alternating (tuned, default, tuned, default on the netns path), so the two are compared
 * in the same run; the tuned figures are the model's inputs. The machine should be otherwise idle: CPU time per
 * byte grows when other work competes for the cores and caches. Writes bench/results/cpu-costs.json.
 *
 *   npm run bench:cpu                 # 48 MiB, a warm-up and 5 passes per path (about 2 minutes)
 *   npm run bench:cpu -- --mib 16 --passes 1
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildNetnsNetwork, netnsUnavailable } from '../src/cluster/netns.js';
import { BlobStore } from '../src/image/blob-store.js';
import { buildImage } from '../src/image/builder.js';
import type { Digest } from '../src/image/manifest.js';
import { KINDLING_MALLOC_TUNABLES } from '../src/cluster/malloc-tuning.js';
import type { CpuCostsFile, CpuPathCosts } from '../src/sim/cpu-costs.js';
import type { RoleCommand, RoleReply } from './lib/cpu-role.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rolePath = fileURLToPath(new URL('./lib/cpu-role.js', import.meta.url));
const MiB = 1024 * 1024;
const BLOCK = 512 * 1024;
const round = (v: number, d = 3) => Math.round(v * 10 ** d) / 10 ** d;
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '48' },
    passes: { type: 'string', default: '5' },
    out: { type: 'string', default: join(root, 'bench', 'results') },
  },
});
const mib = Number(values.mib);
const passes = Number(values.passes);
if (!(mib >= 1 && Number.isInteger(mib)) || !(passes >= 1 && Number.isInteger(passes)))
  throw new Error(`--mib and --passes must be whole numbers ≥ 1, got ${values.mib} and ${values.passes}`);

/** A role process: its replies arrive in order, one per command that answers. */
class Role {
  private readonly queue: RoleReply[] = [];
  private readonly waiting: { resolve: (r: RoleReply) => void; reject: (e: Error) => void }[] = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: RoleReply) => {
      const w = this.waiting.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    });
    child.once('exit', (code) => {
      for (const w of this.waiting.splice(0)) w.reject(new Error(`a benchmark role exited with ${code}`));
    });
  }
  next(): Promise<RoleReply> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    if (this.child.exitCode !== null)
      return Promise.reject(new Error(`a benchmark role exited with ${this.child.exitCode}`));
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }
  async ask<K extends RoleReply['kind']>(cmd: RoleCommand | undefined, kind: K) {
    if (cmd) this.child.send(cmd);
    const r = await this.next();
    if (r.kind === 'error') throw new Error(r.message);
    if (r.kind !== kind) throw new Error(`expected ${kind}, got ${r.kind}`);
    return r as Extract<RoleReply, { kind: K }>;
  }
  async cpuMs(): Promise<number> {
    const u = await this.ask({ cmd: 'usage' }, 'usage');
    return (u.userUs + u.systemUs) / 1000;
  }
  stop(): void {
    if (this.child.connected) this.child.send({ cmd: 'exit' } satisfies RoleCommand);
  }
}

/** How a role's C library allocates: as a local cluster's processes, or at glibc's defaults. */
type Malloc = 'tuned' | 'default';

/** Starts a role, in `ns` when given (`ip netns exec` keeps the IPC descriptor). */
function start(ns: string | undefined, args: string[], malloc: Malloc): Role {
  const env = { ...process.env };
  delete env.GLIBC_TUNABLES;
  if (malloc === 'tuned') env.GLIBC_TUNABLES = KINDLING_MALLOC_TUNABLES;
  const child = ns
    ? fork(rolePath, args, { env, execPath: 'ip', execArgv: ['netns', 'exec', ns, process.execPath] })
    : fork(rolePath, args, { env });
  return new Role(child);
}

/**
 * The image: a function whose node_modules holds `mib` MiB of random files (as bench:dist's), built
 * by the real builder; its manifest and blocks go into the seed store. Returns the blocks' digests
 * in manifest order and the manifest's.
 */
async function makeImage(work: string, seedDir: string): Promise<{ digests: Digest[]; manifest: Digest }> {
  const fnDir = join(work, 'fn');
  const assets = join(fnDir, 'node_modules', 'big-assets');
  mkdirSync(assets, { recursive: true });
  writeFileSync(join(fnDir, 'index.js'), 'exports.handler = async () => ({ ok: true });\n');
  writeFileSync(
    join(fnDir, 'kindling.json'),
    JSON.stringify({ name: 'cpu', bundle: false, entry: 'index.js' }),
  );
  for (let i = 0; i < mib / 8; i++) writeFileSync(join(assets, `chunk-${i}.bin`), randomBytes(8 * MiB));
  const image = await buildImage(fnDir);
  const store = new BlobStore(seedDir);
  for (const b of image.blocks.values()) await store.put(b);
  await store.putVerified(image.digest, image.manifestBytes);
  const digests = [...new Set(image.manifest.layers.flatMap((l) => l.blocks.map((b) => b.digest)))];
  return { digests, manifest: image.digest };
}

/** One path: the three roles where `where` puts them, `passes` fetches; per-MiB CPU of each role. */
async function measurePath(
  digests: Digest[],
  seedDir: string,
  where: { controlNs?: string; peerNs?: string; fetchNs?: string; controlIp: string; peerIp: string },
  malloc: Malloc,
): Promise<CpuPathCosts> {
  console.log(`  malloc ${malloc}:`);
  const roles: Role[] = [];
  try {
    const control = start(where.controlNs, ['control', where.controlIp], malloc);
    roles.push(control);
    const controlPort = (await control.ask(undefined, 'listening')).port;
    const peer = start(where.peerNs, ['peer', where.peerIp, seedDir], malloc);
    roles.push(peer);
    const peerPort = (await peer.ask(undefined, 'listening')).port;
    const fetcher = start(
      where.fetchNs,
      ['fetch', '', `http://${where.controlIp}:${controlPort}`, `http://${where.peerIp}:${peerPort}`],
      malloc,
    );
    roles.push(fetcher);
    await fetcher.ask(undefined, 'listening');
    const runs: { receive: number; send: number; control: number; mbps: number }[] = [];
    // Pass 0 warms the processes up (JIT, connections) and is not counted: a cluster worker
    // fetching 256 MiB spends almost all of it warm.
    for (let p = 0; p <= passes; p++) {
      const fn = `cpu/pass-${p}-${Date.now()}`;
      await control.ask({ cmd: 'seed', fn }, 'seeded');
      const before = await Promise.all([fetcher.cpuMs(), peer.cpuMs(), control.cpuMs()]);
      const r = await fetcher.ask({ cmd: 'fetch', fn, digests }, 'fetched');
      const after = await Promise.all([fetcher.cpuMs(), peer.cpuMs(), control.cpuMs()]);
      const m = r.bytes / MiB;
      if (p === 0) {
        console.log(`    warm-up: ${m.toFixed(1)} MiB in ${(r.ms / 1000).toFixed(1)} s (not counted)`);
        continue;
      }
      runs.push({
        receive: (after[0] - before[0]) / m,
        send: (after[1] - before[1]) / m,
        control: (after[2] - before[2]) / m,
        mbps: (r.bytes * 8) / 1e6 / (r.ms / 1000),
      });
      console.log(
        `    pass ${p}: ${m.toFixed(1)} MiB at ${runs.at(-1)!.mbps.toFixed(1)} Mbit/s; CPU ms/MiB: receive ${runs.at(-1)!.receive.toFixed(2)}, send ${runs.at(-1)!.send.toFixed(2)}, control ${runs.at(-1)!.control.toFixed(2)}`,
      );
    }
    return summarise(
      runs.map((r) => ({
        receiveMsPerMiB: round(r.receive),
        sendMsPerMiB: round(r.send),
        controlMsPerMiB: round(r.control),
        mbps: round(r.mbps, 1),
      })),
    );
  } finally {
    for (const r of roles) r.stop();
    await Promise.all(
      roles.map((r) =>
        r.child.exitCode !== null ? undefined : new Promise((resolve) => r.child.once('exit', resolve)),
      ),
    );
  }
}

/** The medians of a path's passes (of one or more rounds). */
function summarise(passes: CpuPathCosts['passes']): CpuPathCosts {
  const med = (k: keyof CpuPathCosts['passes'][number]) => median(passes.map((p) => p[k]));
  return {
    receiveMsPerMiB: round(med('receiveMsPerMiB')),
    sendMsPerMiB: round(med('sendMsPerMiB')),
    controlMsPerMiB: round(med('controlMsPerMiB')),
    mbps: round(med('mbps'), 1),
    passes,
  };
}

/**
 * A path measured in rounds, each tuned then default malloc (see the module comment): the passes of
 * each setting's rounds together.
 */
async function measureBoth(
  rounds: number,
  measure: (malloc: Malloc) => Promise<CpuPathCosts>,
): Promise<Record<Malloc, CpuPathCosts>> {
  const passesOf: Record<Malloc, CpuPathCosts['passes']> = { tuned: [], default: [] };
  for (let r = 0; r < rounds; r++)
    for (const malloc of ['tuned', 'default'] as const)
      passesOf[malloc].push(...(await measure(malloc)).passes);
  return { tuned: summarise(passesOf.tuned), default: summarise(passesOf.default) };
}

/**
 * CPU time of the real materializeImage writing the image's files from a block cache that holds
 * every block (read, verify, decompress, write), per MiB of blocks, in a role process of its own
 * with `malloc`; a fresh image directory per pass, the first pass a warm-up.
 */
async function measureMaterialise(
  seedDir: string,
  manifest: Digest,
  blockBytes: number,
  malloc: Malloc,
): Promise<number> {
  const role = start(undefined, ['materialise', '', seedDir], malloc);
  try {
    await role.ask(undefined, 'listening');
    const perPass: number[] = [];
    for (let p = 0; p <= passes; p++) {
      const before = await role.cpuMs();
      await role.ask({ cmd: 'materialise', manifest }, 'materialised');
      const ms = (await role.cpuMs()) - before;
      if (p > 0) perPass.push(ms / (blockBytes / MiB));
    }
    return round(median(perPass));
  } finally {
    role.stop();
    if (role.child.exitCode === null) await new Promise((resolve) => role.child.once('exit', resolve));
  }
}

/**
 * Goodput of one plain TCP stream (Node sockets, 64 MiB) over a link shaped like a host's, as a
 * fraction of the shaping rate: the headers and the shaper's behaviour, no Kindling code.
 */
function linkGoodput(ns: { from: string; to: string; ip: string }, bits: number): number {
  const bytes = 64 * MiB;
  const server = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns.from,
      process.execPath,
      '-e',
      `const b = Buffer.alloc(${MiB}); require('node:net').createServer((c) => { let n = 0; const w = () => { while (n < ${bytes / MiB}) { n++; if (!c.write(b)) return c.once('drain', w); } c.end(); }; w(); }).listen(9000, '${ns.ip}', () => console.log('up'));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    execFileSync('sleep', ['1']);
    const out = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        ns.to,
        process.execPath,
        '-e',
        `const t = performance.now(); let n = 0; const c = require('node:net').connect(9000, '${ns.ip}'); c.on('data', (d) => (n += d.length)); c.on('end', () => console.log(JSON.stringify({ n, ms: performance.now() - t })));`,
      ],
      { encoding: 'utf8' },
    );
    const r = JSON.parse(out) as { n: number; ms: number };
    if (r.n !== bytes) throw new Error(`the TCP stream delivered ${r.n} of ${bytes} bytes`);
    return (r.n * 8) / (r.ms / 1000) / bits;
  } finally {
    server.kill();
  }
}

async function main(): Promise<void> {
  const load = loadavg()[0] ?? 0;
  if (load > availableParallelism() / 2)
    console.log(
      `note: the 1-minute load average is ${load.toFixed(2)} on ${availableParallelism()} cores; other work inflates CPU per byte`,
    );
  const work = mkdtempSync(join(tmpdir(), 'kindling-cpu-costs-'));
  try {
    const seedDir = join(work, 'seed');
    const { digests, manifest } = await makeImage(work, seedDir);
    const seed = new BlobStore(seedDir);
    let blockBytes = 0;
    for (const d of digests) blockBytes += (await seed.size(d)) ?? 0;
    const paths: CpuCostsFile['paths'] = {};
    const defaultMalloc: NonNullable<CpuCostsFile['defaultMalloc']> = { materialiseMsPerMiB: 0 };
    let link: CpuCostsFile['link'];
    const why = netnsUnavailable();
    if (why) console.log(`netns path skipped: ${why}`);
    else {
      console.log(`netns path (veth + tc htb, 100 Mbit/s hosts, 200 Mbit/s control plane), ${mib} MiB:`);
      const net = await buildNetnsNetwork({
        hosts: 2,
        nicBitsPerSec: 100e6,
        registryNicBitsPerSec: 200e6,
        dataDir: join(work, 'net'),
      });
      try {
        const fraction = linkGoodput(
          { from: net.workerNs[0]!, to: net.workerNs[1]!, ip: net.workerIps[0]! },
          100e6,
        );
        link = { shapedMbps: 100, goodputFraction: round(fraction, 4) };
        console.log(`plain TCP over a 100 Mbit/s shaped link: ${(100 * fraction).toFixed(1)} Mbit/s`);
        const netns = await measureBoth(2, (malloc) =>
          measurePath(
            digests,
            seedDir,
            {
              controlNs: net.controlNs,
              peerNs: net.workerNs[0],
              fetchNs: net.workerNs[1],
              controlIp: net.controlIp,
              peerIp: net.workerIps[0]!,
            },
            malloc,
          ),
        );
        paths.netns = netns.tuned;
        defaultMalloc.netns = netns.default;
      } finally {
        net.teardown();
      }
    }
    console.log(`loopback path (127.0.0.1, unshaped), ${mib} MiB:`);
    const loopback = await measureBoth(1, (malloc) =>
      measurePath(digests, seedDir, { controlIp: '127.0.0.1', peerIp: '127.0.0.1' }, malloc),
    );
    paths.loopback = loopback.tuned;
    defaultMalloc.loopback = loopback.default;
    const materialiseMsPerMiB = await measureMaterialise(seedDir, manifest, blockBytes, 'tuned');
    defaultMalloc.materialiseMsPerMiB = await measureMaterialise(seedDir, manifest, blockBytes, 'default');
    console.log(
      `materialise (materializeImage from the block cache): ${materialiseMsPerMiB} CPU ms/MiB (malloc at glibc's defaults: ${defaultMalloc.materialiseMsPerMiB})`,
    );
    for (const [name, path] of Object.entries(paths))
      if (path && defaultMalloc[name as 'netns' | 'loopback'])
        console.log(
          `${name}, tuned ÷ default malloc: receive ${ratio(path.receiveMsPerMiB, defaultMalloc[name as 'netns']!.receiveMsPerMiB)}, send ${ratio(path.sendMsPerMiB, defaultMalloc[name as 'netns']!.sendMsPerMiB)}, control ${ratio(path.controlMsPerMiB, defaultMalloc[name as 'netns']!.controlMsPerMiB)}`,
        );
    const result: CpuCostsFile = {
      note: 'CPU ms per MiB of 512 KiB incompressible blocks through Kindling’s real data path (npm run bench:cpu); process.cpuUsage() of each role’s own process, user + system, median of the passes',
      machine: {
        cpus: availableParallelism(),
        model: cpus()[0]?.model ?? 'unknown',
        node: process.version,
        loadAverage1m: round(load, 2),
      },
      mib,
      blockKiB: BLOCK / 1024,
      paths,
      ...(link ? { link } : {}),
      materialiseMsPerMiB,
      mallocTunables: KINDLING_MALLOC_TUNABLES,
      defaultMalloc,
    };
    mkdirSync(values.out!, { recursive: true });
    const file = join(values.out!, 'cpu-costs.json');
    writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    console.log(`wrote ${file}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
