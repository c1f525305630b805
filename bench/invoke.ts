/**
 * `npm run bench:invoke` — invoke latency and throughput, each against its floor measured in the same
 * run (these machines are shared and noisy, so ratios are what count):
 *  (a) warm: throughput and p50/p99 through the gateway vs a bare Node HTTP server answering the same JSON;
 *  (b) cold: process-tier cold start p50/p99 (with phases), spawning a process and from a stem cell,
 *      vs a bare `node -e` start of the same function.
 * Writes bench/results/invoke.json and bench/results/invoke.svg. `--quick` for a short run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PHASES, type Phase } from '../src/core/phases.js';
import { percentile, sortedCopy } from '../src/core/stats.js';
import { measureLayers } from './lib/layers.js';
import { runLoad } from './lib/loadgen.js';
import { barChart, svgDocument } from './lib/svg-plot.js';

const quick = process.argv.includes('--quick');
const repo = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(repo, 'bin', 'kindling.js');
const settings = quick
  ? { warmMs: 2000, rounds: 1, concurrency: 16, seqRequests: 300, coldRuns: 15 }
  : { warmMs: 5000, rounds: 2, concurrency: 16, seqRequests: 2000, coldRuns: 100 };

const round = (n: number) => Math.round(n * 1000) / 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function summary(latencies: number[]) {
  const s = sortedCopy(latencies);
  return { p50Ms: round(percentile(s, 50)), p99Ms: round(percentile(s, 99)), n: s.length };
}

/** Starts a child and resolves with the first stdout line that parses as JSON. */
function startJsonChild(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; info: { port: number } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ child, info: JSON.parse(line) as { port: number } });
    });
    child.on('exit', (code) => reject(new Error(`child ${args.join(' ')} exited with ${code}`)));
  });
}

/**
 * With `stemCells` false a cold start spawns a process (plain, or from the runtime snapshot once the
 * platform has built it); with true it takes a stem cell, as `kindling up` does by default. The start
 * paths seen are recorded. bench:sandbox compares every path.
 */
async function startPlatform(
  dataDir: string,
  stemCells: boolean,
): Promise<{ child: ChildProcess; url: string; key: string }> {
  const child = spawn(
    process.execPath,
    [
      cli,
      'up',
      '--port',
      '0',
      '--no-examples',
      ...(stemCells ? [] : ['--stem-cells', '0']),
      '--data',
      dataDir,
    ],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, KINDLING_LOG_LEVEL: 'error' },
    },
  );
  const endpoint = join(dataDir, 'endpoint.json');
  for (let i = 0; i < 600 && !existsSync(endpoint); i++) await sleep(50);
  if (!existsSync(endpoint)) throw new Error('platform did not come up');
  const url = (JSON.parse(readFileSync(endpoint, 'utf8')) as { url: string }).url;
  return { child, url, key: readFileSync(join(dataDir, 'admin-key'), 'utf8').trim() };
}

function deploy(dataDir: string, dir: string): void {
  const res = spawnSync(process.execPath, [cli, 'deploy', dir, '--json', '--data-dir', dataDir], {
    encoding: 'utf8',
  });
  if (res.status !== 0) throw new Error(`deploy ${dir} failed: ${res.stderr}`);
}

async function api<T>(
  url: string,
  key: string,
  path: string,
  init: RequestInit = {},
): Promise<{ res: Response; body: T }> {
  const res = await fetch(url + path, {
    ...init,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  });
  return { res, body: (await res.json()) as T };
}

function parseTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*(\w+);dur=([\d.]+)/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

type Result = {
  warm: {
    floorRps: number;
    hopFloorRps: number;
    rps: number;
    floorP50Ms: number;
    p50Ms: number;
    floorP99Ms: number;
    p99Ms: number;
  };
  cold: {
    bareNodeP50Ms: number;
    p50Ms: number;
    bareNodeP99Ms: number;
    p99Ms: number;
    stemCells?: { p50Ms: number; p99Ms: number };
  };
  meta: { settings: { concurrency: number } };
};

/** The results as an SVG: warm throughput, warm latency and cold start, each beside its floor. */
function plot(result: Result): string {
  const { warm, cold } = result;
  const settings = result.meta.settings;
  return svgDocument([
    barChart('Warm throughput', 'requests/s', [
      {
        label: `${settings.concurrency} connections`,
        bars: [
          { name: 'bare node http', value: warm.floorRps },
          { name: 'http + process hop', value: warm.hopFloorRps },
          { name: 'kindling', value: warm.rps },
        ],
      },
    ]),
    barChart('Warm latency (1 at a time)', 'ms', [
      {
        label: 'p50',
        bars: [
          { name: 'bare node http', value: warm.floorP50Ms },
          { name: 'kindling', value: warm.p50Ms },
        ],
      },
      {
        label: 'p99',
        bars: [
          { name: 'bare node http', value: warm.floorP99Ms },
          { name: 'kindling', value: warm.p99Ms },
        ],
      },
    ]),
    barChart('Cold start', 'ms', [
      {
        label: 'p50',
        bars: [
          { name: 'bare node -e', value: cold.bareNodeP50Ms },
          { name: 'kindling process (spawn)', value: cold.p50Ms },
          ...(cold.stemCells ? [{ name: 'kindling process (stem cell)', value: cold.stemCells.p50Ms }] : []),
        ],
      },
      {
        label: 'p99',
        bars: [
          { name: 'bare node -e', value: cold.bareNodeP99Ms },
          { name: 'kindling process (spawn)', value: cold.p99Ms },
          ...(cold.stemCells ? [{ name: 'kindling process (stem cell)', value: cold.stemCells.p99Ms }] : []),
        ],
      },
    ]),
  ]);
}

/** True once the platform's stem-cell pool has no cell booting and at least one ready (`/metrics`). */
async function stemCellsReady(url: string, key: string): Promise<boolean> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } })).text();
  const count = (state: string) =>
    [
      ...text.matchAll(new RegExp(`^kindling_stem_cells\\{[^}]*state="${state}"[^}]*\\} (\\d+)`, 'gm')),
    ].reduce((sum, m) => sum + Number(m[1]), 0);
  return count('booting') === 0 && count('ready') > 0;
}

/**
 * Cold starts of `bench-cold`, one at a time: wait until the previous instance is gone (and, with
 * `waitForStemCell`, until the pool has a stem cell ready again), then invoke.
 */
async function measureColdStarts(url: string, key: string, waitForStemCell = false) {
  const auth = { authorization: `Bearer ${key}` };
  const coldUrl = `${url}/v1/functions/bench-cold/invoke`;
  const startPaths: Record<string, number> = {};
  const totals: number[] = [];
  const phaseSeries: Record<Phase, number[]> = Object.fromEntries(
    PHASES.map((p) => [p, []]),
  ) as unknown as Record<Phase, number[]>;
  for (let i = 0; i < settings.coldRuns; i++) {
    for (let w = 0; w < 500; w++) {
      const { body } = await api<{ instances: { instances: unknown[] }[] }>(
        url,
        key,
        '/v1/functions/bench-cold',
      );
      if (body.instances.every((v) => v.instances.length === 0)) break;
      await sleep(2);
    }
    for (let w = 0; waitForStemCell && w < 500 && !(await stemCellsReady(url, key)); w++) await sleep(10);
    const t0 = performance.now();
    const res = await fetch(coldUrl, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: `{"n":${i}}`,
    });
    await res.text();
    const ms = performance.now() - t0;
    if (res.headers.get('x-kindling-cold') !== '1') continue;
    totals.push(ms);
    const path = res.headers.get('x-kindling-start-path') ?? 'unknown';
    startPaths[path] = (startPaths[path] ?? 0) + 1;
    const timing = parseTiming(res.headers.get('server-timing'));
    for (const p of PHASES) phaseSeries[p].push(timing[p] ?? 0);
  }
  const phasesP50 = Object.fromEntries(
    PHASES.map((p) => [p, round(percentile(sortedCopy(phaseSeries[p]), 50))]),
  );
  return { ...summary(totals), startPaths, phasesP50 };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kindling-bench-'));
  const dataDirs = [dataDir];
  const children: ChildProcess[] = [];
  try {
    const floor = await startJsonChild([join(repo, 'bench', 'floor-server.js')]);
    children.push(floor.child);
    const hop = await startJsonChild([join(repo, 'bench', 'hop-floor-server.js')]);
    children.push(hop.child);
    const platform = await startPlatform(dataDir, false);
    children.push(platform.child);
    deploy(dataDir, join(repo, 'bench', 'functions', 'echo'));
    deploy(dataDir, join(repo, 'bench', 'functions', 'cold'));
    const { url, key } = platform;
    const payload = JSON.stringify({ hello: 'world', n: 42, list: [1, 2, 3] });
    const floorUrl = `http://127.0.0.1:${floor.info.port}/`;
    const hopUrl = `http://127.0.0.1:${hop.info.port}/`;
    const fnUrl = `${url}/v1/functions/bench-echo/invoke`;
    const auth = { authorization: `Bearer ${key}` };

    // Warm up both (JIT, connection pools, the function's instance).
    await runLoad({ url: floorUrl, body: payload, concurrency: 4, durationMs: 1000, maxRequests: 2000 });
    await runLoad({ url: hopUrl, body: payload, concurrency: 4, durationMs: 1000, maxRequests: 2000 });
    await runLoad({
      url: fnUrl,
      headers: auth,
      body: payload,
      concurrency: 4,
      durationMs: 1000,
      maxRequests: 2000,
    });

    // (a) throughput, alternating floor and platform so drift on the machine hits both alike.
    const rps = { floor: [] as number[], hop: [] as number[], platform: [] as number[] };
    const loaded = { floor: [] as number[], platform: [] as number[] };
    for (let r = 0; r < settings.rounds; r++) {
      const f = await runLoad({
        url: floorUrl,
        body: payload,
        concurrency: settings.concurrency,
        durationMs: settings.warmMs,
        maxRequests: 1e7,
      });
      const p = await runLoad({
        url: fnUrl,
        headers: auth,
        body: payload,
        concurrency: settings.concurrency,
        durationMs: settings.warmMs,
        maxRequests: 1e7,
      });
      const h = await runLoad({
        url: hopUrl,
        body: payload,
        concurrency: settings.concurrency,
        durationMs: settings.warmMs,
        maxRequests: 1e7,
      });
      rps.hop.push(h.rps);
      if (p.errors > 0) console.warn(`warning: ${p.errors} platform requests failed under load`);
      rps.floor.push(f.rps);
      rps.platform.push(p.rps);
      // Not push(...xs): a full run has more latencies than the call stack has room for arguments.
      loaded.floor = loaded.floor.concat(f.latencies);
      loaded.platform = loaded.platform.concat(p.latencies);
    }
    // Latency one request at a time: the platform's own overhead per invocation.
    const seqFloor = await runLoad({
      url: floorUrl,
      body: payload,
      concurrency: 1,
      durationMs: 60_000,
      maxRequests: settings.seqRequests,
    });
    const seqPlatform = await runLoad({
      url: fnUrl,
      headers: auth,
      body: payload,
      concurrency: 1,
      durationMs: 60_000,
      maxRequests: settings.seqRequests,
    });
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const warm = {
      rps: Math.round(mean(rps.platform)),
      p50Ms: summary(seqPlatform.latencies).p50Ms,
      p99Ms: summary(seqPlatform.latencies).p99Ms,
      floorRps: Math.round(mean(rps.floor)),
      floorP50Ms: summary(seqFloor.latencies).p50Ms,
      floorP99Ms: summary(seqFloor.latencies).p99Ms,
      overheadP50Ms: round(summary(seqPlatform.latencies).p50Ms - summary(seqFloor.latencies).p50Ms),
      rpsRatio: round(mean(rps.platform) / mean(rps.floor)),
      // The least a gateway-plus-process design costs (bench/hop-floor-server.js), for perspective.
      hopFloorRps: Math.round(mean(rps.hop)),
      hopFloorRatio: round(mean(rps.hop) / mean(rps.floor)),
      underLoad: {
        concurrency: settings.concurrency,
        platform: summary(loaded.platform),
        floor: summary(loaded.floor),
      },
    };
    console.log('warm', JSON.stringify(warm));

    // (b) cold starts, each spawning a process (stem cells off on this platform).
    const spawned = await measureColdStarts(url, key);
    // The floor: a bare node process that imports the same bundled file and runs the handler once.
    const versions = (
      await api<{ versions: { imageDigest: string; entry: string }[] }>(
        url,
        key,
        '/v1/functions/bench-cold/versions',
      )
    ).body.versions;
    const image = versions[0]!;
    const entry = join(dataDir, 'worker', 'images', image.imageDigest.slice('sha256:'.length), image.entry);
    // Loaded the way Node loads that kind of file: require() for a CommonJS bundle, import() for ESM.
    const load = entry.endsWith('.cjs')
      ? `Promise.resolve(require(${JSON.stringify(entry)}))`
      : `import(${JSON.stringify('file://' + entry)})`;
    const script = `${load}.then((m) => m.default({ n: 1 })).then((r) => process.stdout.write(JSON.stringify(r)))`;
    const bare: number[] = [];
    for (let i = 0; i < settings.coldRuns; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        // The same minimal environment the sandbox gives its instances: variables such as
        // NODE_EXTRA_CA_CERTS would otherwise add tens of milliseconds to the floor's start.
        const child = spawn(process.execPath, ['-e', script], {
          stdio: ['ignore', 'pipe', 'inherit'],
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), NODE_ENV: 'production' },
        });
        child.stdout.once('data', () => {
          bare.push(performance.now() - t0);
          resolve();
        });
        child.on('exit', (code) =>
          code === 0 ? undefined : reject(new Error(`bare node exited with ${code}`)),
        );
      });
    }
    // The same cold starts on a platform with stem cells on (the default of `kindling up`): a cold
    // start specialises a Node process started ahead of demand instead of spawning one.
    platform.child.kill('SIGTERM'); // done with it: nothing else competes for the cores
    const stemDataDir = mkdtempSync(join(tmpdir(), 'kindling-bench-stem-'));
    dataDirs.push(stemDataDir);
    const stemPlatform = await startPlatform(stemDataDir, true);
    children.push(stemPlatform.child);
    deploy(stemDataDir, join(repo, 'bench', 'functions', 'cold'));
    const stem = await measureColdStarts(stemPlatform.url, stemPlatform.key, true);
    const bareNode = summary(bare);
    const cold = {
      p50Ms: spawned.p50Ms,
      p99Ms: spawned.p99Ms,
      runs: spawned.n,
      startPaths: spawned.startPaths,
      bareNodeP50Ms: bareNode.p50Ms,
      bareNodeP99Ms: bareNode.p99Ms,
      overBareP50Ms: round(spawned.p50Ms - bareNode.p50Ms),
      phasesP50: spawned.phasesP50,
      stemCells: {
        p50Ms: stem.p50Ms,
        p99Ms: stem.p99Ms,
        runs: stem.n,
        startPaths: stem.startPaths,
        overBareP50Ms: round(stem.p50Ms - bareNode.p50Ms),
        phasesP50: stem.phasesP50,
      },
    };
    console.log('cold', JSON.stringify(cold));

    // (c) where the gateway's CPU goes per warm invocation, layer by layer (in this process).
    const cpuPerInvocationUs = await measureLayers(
      join(repo, 'bench', 'functions', 'echo'),
      quick ? 5000 : 20_000,
    );
    console.log('layers', JSON.stringify(cpuPerInvocationUs));

    const result = {
      warm,
      cold,
      cpuPerInvocationUs,
      meta: {
        quick,
        node: process.version,
        date: new Date().toISOString(),
        cpus: (await import('node:os')).cpus().length,
        settings,
      },
    };
    const out = join(repo, 'bench', 'results');
    mkdirSync(out, { recursive: true });
    const name = quick ? 'invoke-quick' : 'invoke';
    writeFileSync(join(out, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
    writeFileSync(join(out, `${name}.svg`), plot(result));
    console.log(`wrote bench/results/${name}.json and ${name}.svg`);
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await sleep(300);
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--plot-only')) {
  // Redraws the SVG from a results file, e.g. after a change to the chart code.
  const name = quick ? 'invoke-quick' : 'invoke';
  const file = join(repo, 'bench', 'results', `${name}.json`);
  writeFileSync(file.replace(/\.json$/, '.svg'), plot(JSON.parse(readFileSync(file, 'utf8')) as Result));
} else {
  await main();
}
