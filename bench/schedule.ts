/**
 * `npm run bench:schedule`: what pre-warming ahead of a scheduled trigger's tick buys and costs, on
 * the embedded platform, against no pre-warm, in the same run.
 *
 * A function on a schedule (`*\/4 * * * * *`: every 4 s) with a keep-alive shorter than the period
 * (1 s), so without a pre-warm every tick finds no instance: a cold start. With one, an instance is
 * started `--lead` before each tick and held for it. The variants alternate (`--rounds` of each, on a
 * fresh platform each time) and each measures `--ticks` ticks after a first one it leaves out (it may
 * fall inside the lead of the platform's start). Per tick: cold or warm, and the time from the tick
 * to the handler's answer (the record's total: queue, start and exec). The cost is idle instance
 * time, sampled every 20 ms from the worker's instance counts, per tick.
 *
 *   npm run bench:schedule                       # 2 rounds × 8 ticks per variant (about 3 minutes)
 *   npm run bench:schedule -- --stem-cells 1     # a cold start from a stem cell instead of a spawn
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startPlatform } from '../src/platform.js';
import { barChart, svgDocument } from './lib/svg-plot.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const round = (v: number, d = 1) => Math.round(v * 10 ** d) / 10 ** d;
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    ticks: { type: 'string', default: '8' },
    lead: { type: 'string', default: '2500' },
    'stem-cells': { type: 'string', default: '0' },
  },
});
const rounds = Number(values.rounds);
const ticks = Number(values.ticks);
const leadMs = Number(values.lead);
const stemCells = Number(values['stem-cells']);
for (const [flag, v] of [
  ['--rounds', rounds],
  ['--ticks', ticks],
  ['--lead', leadMs],
] as const)
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${flag} must be a positive integer, got ${v}`);
if (leadMs >= 4000) throw new Error('--lead must be shorter than the 4 s period');
if (!(Number.isInteger(stemCells) && stemCells >= 0)) throw new Error('--stem-cells must be 0 or more');

const SCHEDULE = '*/4 * * * * *';
const KEEP_ALIVE_MS = 1000;

interface Tick {
  cold: boolean;
  tickToDoneMs: number;
}

/** One platform with pre-warming at `lead` (0 = off): `ticks` ticks after the first. */
async function variant(lead: number): Promise<{ ticks: Tick[]; idleInstanceS: number; spanS: number }> {
  const work = mkdtempSync(join(tmpdir(), 'kindling-bench-schedule-'));
  const fn = join(work, 'fn');
  mkdirSync(fn);
  writeFileSync(join(fn, 'index.js'), 'exports.handler = async (event) => ({ at: event.scheduledTime });\n');
  writeFileSync(
    join(fn, 'kindling.json'),
    JSON.stringify({ name: 'ticker', schedule: SCHEDULE, keepAliveMs: KEEP_ALIVE_MS }),
  );
  const platform = await startPlatform({
    dataDir: join(work, 'data'),
    port: 0,
    deploy: [fn],
    stemCells,
    schedulePrewarmMs: lead,
  });
  // Idle instance time, from the worker's counts: what holding an instance ahead of a tick costs.
  let idleMs = 0;
  let last = performance.now();
  let sampling = false;
  const sampler = setInterval(() => {
    const now = performance.now();
    if (sampling) {
      const idle = platform.scheduler
        .all()
        .flatMap((w) => w.instanceCounts())
        .reduce((n, c) => n + (c.state === 'idle' ? c.count : 0), 0);
      idleMs += idle * (now - last);
    }
    last = now;
  }, 20);
  try {
    const done = async () =>
      (
        platform.invocations.recent('default', 'ticker', 1000) as {
          mode: string;
          status: string;
          cold?: boolean;
          totalMs?: number;
        }[]
      ).filter((r) => r.mode === 'schedule' && (r.status === 'succeeded' || r.status === 'failed'));
    // Leave out the first tick (its lead may fall before the platform was up), then measure.
    const wait = async (n: number) => {
      for (;;) {
        const list = await done();
        if (list.length >= n) return list;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await wait(1);
    sampling = true;
    const t0 = performance.now();
    const all = await wait(1 + ticks);
    const spanS = (performance.now() - t0) / 1000;
    sampling = false;
    const failed = all.filter((r) => r.status !== 'succeeded').length;
    if (failed > 0) throw new Error(`${failed} scheduled invocations failed`);
    // Newest first: the measured ticks are all but the oldest.
    const measured = all.slice(0, ticks);
    return {
      ticks: measured.map((r) => ({ cold: r.cold === true, tickToDoneMs: r.totalMs ?? 0 })),
      idleInstanceS: idleMs / 1000,
      spanS,
    };
  } finally {
    clearInterval(sampler);
    await platform.close();
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const byLead = new Map<number, { ticks: Tick[]; idleInstanceS: number; spanS: number }>();
  for (let r = 0; r < rounds; r++) {
    // Alternating, so a change in the machine's load falls on both.
    for (const lead of r % 2 === 0 ? [leadMs, 0] : [0, leadMs]) {
      const got = await variant(lead);
      const acc = byLead.get(lead) ?? { ticks: [], idleInstanceS: 0, spanS: 0 };
      acc.ticks.push(...got.ticks);
      acc.idleInstanceS += got.idleInstanceS;
      acc.spanS += got.spanS;
      byLead.set(lead, acc);
      console.log(
        `round ${r + 1} ${lead ? `pre-warm ${lead} ms` : 'no pre-warm'}: cold ${got.ticks.filter((t) => t.cold).length}/${got.ticks.length}, tick to done ${got.ticks.map((t) => round(t.tickToDoneMs)).join(' ')} ms`,
      );
    }
  }
  const summary = [leadMs, 0].map((lead) => {
    const v = byLead.get(lead)!;
    const totals = v.ticks.map((t) => t.tickToDoneMs);
    return {
      variant: lead ? 'pre-warm' : 'none',
      leadMs: lead,
      ticks: v.ticks.length,
      coldPct: round((100 * v.ticks.filter((t) => t.cold).length) / v.ticks.length),
      tickToDoneP50Ms: round(quantile(totals, 0.5), 2),
      tickToDoneMaxMs: round(Math.max(...totals), 2),
      idleInstanceSPerTick: round(v.idleInstanceS / v.ticks.length, 2),
    };
  });
  const [on, off] = summary as [(typeof summary)[0], (typeof summary)[0]];
  const result = {
    schedule: SCHEDULE,
    keepAliveMs: KEEP_ALIVE_MS,
    stemCells,
    rounds,
    variants: summary,
    ratios: {
      tickToDoneP50NoneOverPrewarm: round(off.tickToDoneP50Ms / on.tickToDoneP50Ms, 2),
      idleInstanceTimePrewarmOverNone: round(on.idleInstanceSPerTick / off.idleInstanceSPerTick, 2),
    },
    meta: { node: process.version, date: new Date().toISOString() },
  };
  console.log(JSON.stringify(result, null, 2));
  const out = join(repo, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const name = stemCells > 0 ? 'schedule-stem-cells' : 'schedule';
  writeFileSync(join(out, `${name}.json`), JSON.stringify(result, null, 2) + '\n');
  writeFileSync(
    join(out, `${name}.svg`),
    svgDocument([
      barChart('Tick to answer (p50)', 'ms', [
        {
          label: `every 4 s, keep-alive 1 s${stemCells ? ', stem cells' : ''}`,
          bars: summary.map((s) => ({
            name: s.variant === 'none' ? 'no pre-warm' : `pre-warm ${s.leadMs} ms`,
            value: s.tickToDoneP50Ms,
          })),
        },
      ]),
      barChart('Idle instance time per tick', 's', [
        {
          label: 'instance-seconds',
          bars: summary.map((s) => ({
            name: s.variant === 'none' ? 'no pre-warm' : `pre-warm ${s.leadMs} ms`,
            value: s.idleInstanceSPerTick,
          })),
        },
      ]),
    ]),
  );
  console.log(`wrote bench/results/${name}.json and ${name}.svg`);
}

await main();
