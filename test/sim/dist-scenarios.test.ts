/** The faasnet-scale and calibration scenarios, registered and run in their quick modes. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_RESULTS, type DistBenchRun } from '../../src/sim/measured-costs.js';
import { runCalibration, type CalibrationResult } from '../../src/sim/scenarios/calibration.js';
import { runFaasnetScale, VARIANTS, type FaasnetScaleResult } from '../../src/sim/scenarios/faasnet-scale.js';
import { getScenario, scenarioNames } from '../../src/sim/scenarios/index.js';

function withOut(fn: (out: string) => Promise<void>) {
  return async () => {
    const out = mkdtempSync(join(tmpdir(), 'kindling-simdist-'));
    try {
      copyFileSync(join(REPO_RESULTS, 'sandbox.json'), join(out, 'sandbox.json'));
      await fn(out);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  };
}

/** A dist-quick.json of an 8 MiB image on the test cluster's links; runs at 2 hosts, all ready in 1 s, unless given. */
function writeFakeDist(
  out: string,
  runs: ({ strategy: string; lazy: boolean; registryMiB: number; peerMiB: number } & Partial<DistBenchRun>)[],
) {
  const dist = {
    imageMiB: 8,
    network: 'netns',
    nicMbit: 100,
    registryNicMbit: 200,
    runs: runs.map((r) => ({ hosts: 2, allReadyS: 1, p50ReadyS: 1, ...r })),
  };
  writeFileSync(join(out, 'dist-quick.json'), JSON.stringify(dist));
}

describe('distribution scenarios', () => {
  it('are registered as faasnet-scale and calibration', () => {
    assert.ok(scenarioNames().includes('faasnet-scale'));
    assert.ok(scenarioNames().includes('calibration'));
    assert.equal(getScenario('faasnet-scale').name, 'faasnet-scale');
  });

  it(
    'faasnet-scale (quick) runs every variant, the paper point and the coarsening check, and writes JSON + SVG',
    withOut(async (out) => {
      await runFaasnetScale({ outDir: out, say: () => {}, quick: true });
      const r = JSON.parse(readFileSync(join(out, 'sim-faasnet-scale.json'), 'utf8')) as FaasnetScaleResult;
      assert.equal(r.runs.length, VARIANTS.length * r.setup.hostCounts.length);
      assert.equal(r.setup.workingSetFraction, 0.064);
      const sandbox = JSON.parse(readFileSync(join(out, 'sandbox.json'), 'utf8'));
      assert.equal(r.setup.containerStartMs, sandbox.tiers['container/prepared'].coldP50Ms);
      for (const run of r.runs) assert.ok(run.allStartedS > 0 && run.minPiecesHeld >= run.workingSetPieces);
      // The tree takes about one image from the registry, the registry baseline one per host.
      const last = (v: string) => r.runs.filter((x) => x.variant === v).at(-1)!;
      assert.ok(last('tree').registryMiB <= 1.01 * 64);
      assert.equal(last('registry').registryMiB, 64 * last('registry').hosts);
      assert.equal(r.paperPoint[0]?.containers, Math.round(2.5 * last('registry').hosts));
      assert.equal(r.coarsening.length, VARIANTS.length);
      assert.match(readFileSync(join(out, 'sim-faasnet-scale.svg'), 'utf8'), /^<svg[\s\S]*tree\+lazy/);
    }),
  );

  it(
    'calibration (quick) without measurements writes predictions and says so',
    withOut(async (out) => {
      const lines: string[] = [];
      const r = await runCalibration({ outDir: join(out, 'none'), say: (l) => lines.push(l), quick: true });
      // No dist.json in a fresh directory; the repository's own may exist, so only check the shape.
      if (r.measuredFrom === null) {
        assert.match(lines[0] ?? '', /no bench\/results\/dist\.json or dist-quick\.json/);
        assert.equal(r.compared, 0);
        assert.ok(r.rows.every((x) => x.errorPct === null));
      }
      assert.ok(r.inputs.cpu.materialiseMsPerMiB > 0 && r.inputs.cpu.receiveMsPerMiB > 0);
      assert.match(r.inputs.cpuFrom, /cpu-costs\.json/);
    }),
  );

  it(
    "calibration charges the benchmark function's own start when sandbox.json measured it at the image's startup size",
    withOut(async (out) => {
      writeFakeDist(out, [{ strategy: 'registry', lazy: true, registryMiB: 1, peerMiB: 0 }]);
      const sandbox = (startupMiB: number) => ({
        tiers: {
          'process/plain': { coldP50Ms: 40 },
          'process/runtime-snapshot': { coldP50Ms: 30 },
          'process/plain (big function)': { coldP50Ms: 150 },
          'process/runtime-snapshot (big function)': { coldP50Ms: 170 },
        },
        meta: { bigFunction: { startupMiB } },
      });
      const calibrate = async () => {
        const lines: string[] = [];
        const r = await runCalibration({ outDir: out, say: (l) => lines.push(l), write: false });
        return { r, inputs: lines.find((l) => l.startsWith('inputs:')) ?? '' };
      };
      // 8 MiB × 1/16: the benchmark's function reads 0.5 MiB at start.
      writeFileSync(join(out, 'sandbox.json'), JSON.stringify(sandbox(0.5)));
      const own = await calibrate();
      assert.equal(own.r.inputs.sandboxStartMs, 150);
      assert.match(own.r.inputs.sandboxStartFrom, /^process\/plain \(big function\) coldP50Ms/);
      // Measured with another image's startup file: the minimal function's, saying why.
      writeFileSync(join(out, 'sandbox.json'), JSON.stringify(sandbox(16)));
      const other = await calibrate();
      assert.equal(other.r.inputs.sandboxStartMs, 30);
      assert.match(other.r.inputs.sandboxStartFrom, /reading 16 MiB at start, this image's reads 0\.5 MiB/);
      assert.match(other.inputs, /process\/runtime-snapshot; a minimal function's/);
      // A sandbox.json from before those rows.
      writeFileSync(join(out, 'sandbox.json'), JSON.stringify({ tiers: sandbox(0.5).tiers }));
      assert.match((await calibrate()).r.inputs.sandboxStartFrom, /has no rows for the benchmark's function/);
    }),
  );

  it(
    'calibration takes its costs and extra start time from the one-host runs, and does not count those',
    withOut(async (out) => {
      const roles = (workers: number) => ({
        workers,
        'control plane': 0.12,
        interrupts: 0.02,
        'kernel threads': 0.02,
      });
      // Whole-image runs faster than the model can be (8 MiB over 100 Mbit/s takes 0.7 s).
      const one = { hosts: 1, registryMiB: 8, peerMiB: 0, allReadyS: 0.1 };
      writeFakeDist(out, [
        { ...one, strategy: 'registry', lazy: false, waveCpuByRoleS: roles(0.3) },
        { ...one, strategy: 'tree', lazy: false, waveCpuByRoleS: roles(0.4) },
        { ...one, strategy: 'swarm', lazy: false, waveCpuByRoleS: roles(0.6) },
        // Far slower than any model of 0.5 MiB over 100 Mbit/s: the rest is start time beyond the model.
        { ...one, strategy: 'tree', lazy: true, allReadyS: 3 },
        { strategy: 'tree', lazy: true, registryMiB: 8, peerMiB: 8, allReadyS: 3.5 },
        { strategy: 'registry', lazy: false, registryMiB: 16, peerMiB: 0, allReadyS: 3.5 },
      ]);
      const lines: string[] = [];
      const r = await runCalibration({ outDir: out, say: (l) => lines.push(l), write: false });
      const ref = r.inputs.oneHost!;
      // Medians over the three runs: 0.4 CPU-s of the worker for 8 MiB.
      assert.equal(ref.runs, 3);
      assert.equal(ref.workerMsPerMiB, 50);
      assert.equal(ref.controlPlaneMsPerMiB, 15);
      assert.equal(ref.kernelMsPerMiB, 5);
      const bench = r.inputs.cpu;
      const r3 = (v: number) => Math.round(v * 1000) / 1000;
      assert.equal(ref.workerScale, r3(50 / (bench.receiveMsPerMiB + bench.materialiseMsPerMiB)));
      assert.equal(ref.cpu.registrySendMsPerMiB, r3(bench.sendMsPerMiB * ref.controlPlaneScale));
      assert.ok(ref.extraStartS.lazy > 2, `extra lazy start ${ref.extraStartS.lazy} s`);
      assert.equal(ref.extraStartS.whole, 0); // clamped: never faster than the model
      // The reference runs are not counted; the lazy one is matched by construction.
      const lazyRef = r.rows.find((x) => x.hosts === 1 && x.lazy)!;
      assert.equal(lazyRef.reference, true);
      assert.ok(Math.abs(lazyRef.errorPct!) < 1, `reference error ${lazyRef.errorPct}%`);
      assert.equal(r.compared, 2);
      // The 2-host lazy run waits as long as the reference did; without the reference it does not.
      const tree = r.rows.find((x) => x.strategy === 'tree' && x.hosts === 2)!;
      assert.ok(tree.simAllReadyS > ref.extraStartS.lazy);
      assert.ok(tree.simBenchCpuOnlyAllReadyS < tree.simAllReadyS - 2);
      assert.ok(
        lines.some((l) => l.startsWith('one-host reference (median of 3 runs): the worker 50 CPU-ms/MiB')),
      );
    }),
  );

  it(
    'calibration (quick) compares with dist-quick.json when there is no dist.json, per run',
    withOut(async (out) => {
      writeFakeDist(out, [
        { strategy: 'registry', lazy: false, registryMiB: 16, peerMiB: 0 },
        { strategy: 'tree', lazy: false, registryMiB: 8, peerMiB: 8 },
      ]);
      const lines: string[] = [];
      await runCalibration({ outDir: out, say: (l) => lines.push(l), quick: true });
      const r = JSON.parse(readFileSync(join(out, 'sim-calibration.json'), 'utf8')) as CalibrationResult;
      assert.equal(r.measuredFrom, join(out, 'dist-quick.json'));
      assert.match(lines[0] ?? '', /dist\.json not found: compared with the quick benchmark/);
      assert.equal(r.compared, 2);
      for (const row of r.rows) {
        const expected = Math.round(((100 * (row.simAllReadyS - 1)) / 1) * 10) / 10;
        assert.equal(row.errorPct, expected);
      }
      assert.equal(r.rows.find((x) => x.strategy === 'tree')?.simRegistryMiB, 8);
    }),
  );

  it(
    'calibration models requester turns for the runs measured with them, and only those',
    withOut(async (out) => {
      const run = (requesterTurns: boolean) => async () => {
        writeFakeDist(out, [
          {
            strategy: 'tree',
            lazy: false,
            hosts: 8,
            registryMiB: 8,
            peerMiB: 56,
            ...(requesterTurns ? { requesterTurns } : {}),
          },
        ]);
        const r = await runCalibration({ outDir: out, say: () => undefined, quick: true, write: false });
        return r.rows[0]!.simNetworkOnlyAllReadyS;
      };
      // A tree's 4 blocks in flight to its parent, sent one at a time, reach 8 hosts sooner.
      assert.ok((await run(true)()) < (await run(false)()));
    }),
  );
});
