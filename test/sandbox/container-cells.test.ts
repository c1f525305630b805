/** Container stem cells: containers started ahead of demand, given a function's code by mount propagation. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContainerTier, type ContainerTier } from '../../src/sandbox/container/index.js';
import type { SandboxInstance } from '../../src/sandbox/tier.js';
import { assertResult } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

function crunList(): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile('crun', ['list', '-q'], { timeout: 10_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.split('\n').filter(Boolean)),
    );
  });
}

const REPORTER = `
const { writeFileSync, readFileSync } = require('node:fs');
exports.handler = async () => {
  let writable = true;
  try { writeFileSync('/fn/x', 'x'); } catch (err) { writable = err.code; }
  return { cwd: process.cwd(), who: process.env.WHO ?? null, own: readFileSync('/fn/index.cjs', 'utf8').length > 0, writable };
};
`;

describe('container tier: stem cells', () => {
  const dirs = new FixtureDirs();
  const stateDir = mkdtempSync(join(tmpdir(), 'kindling-cells-'));
  let tier: ContainerTier;
  let dir: string;
  const started: SandboxInstance[] = [];
  /** Cells of other Kindling processes on this machine (a platform someone runs): not this tier's. */
  let others: string[] = [];

  before(async () => {
    others = (await crunList()).filter((id) => id.startsWith('kindling-cell-'));
    dir = await dirs.make({ 'index.cjs': REPORTER });
    tier = createContainerTier({ stateDir, stemCells: { perMemoryMb: 1 } });
  });
  after(async () => {
    await Promise.all(started.map((i) => i.stop()));
    await tier.close();
    await dirs.cleanup();
  });

  const call = async (instance: SandboxInstance) =>
    assertResult(
      await instance.invoke({ requestId: `r-${Math.random()}`, event: {}, timeoutMs: 10_000 }),
    ) as Record<string, unknown>;

  it('specialises a running container: the code arrives read-only at /fn, with the function environment', async () => {
    const first = await tier.start(specFor(dir, 'index.cjs'));
    started.push(first);
    assert.notEqual(first.timings.startPath, 'stem-cell', 'the first start learns the memory size');
    await tier.cellsSettled();
    const cell = await tier.start(specFor(dir, 'index.cjs', { env: { WHO: 'cell' } }));
    started.push(cell);
    assert.equal(cell.timings.startPath, 'stem-cell');
    assert.ok(
      cell.timings.sandboxMs > 0,
      'mounting the code into the cell is on the request path, and counted',
    );
    const out = await call(cell);
    assert.equal(out.cwd, '/fn');
    assert.equal(out.who, 'cell');
    assert.equal(out.own, true, "the function's own code is there");
    assert.equal(out.writable, 'EROFS', 'the code is mounted read-only');
  });

  it('close() leaves no container, cell directory or mount behind', async () => {
    await tier.cellsSettled();
    await Promise.all(started.splice(0).map((i) => i.stop()));
    await tier.close();
    const ours = (await crunList()).filter((id) => id.startsWith('kindling-cell-') && !others.includes(id));
    assert.deepEqual(ours, []);
    const cellsDir = join(stateDir, 'cells');
    assert.deepEqual(existsSync(cellsDir) ? readdirSync(cellsDir) : [], []);
  });
});
