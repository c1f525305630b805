/**
 * Containers a platform could not delete: a tier on the same state dir (the same data directory)
 * deletes them at startup, whatever their state, and never touches another tier's; a Ctrl-C of a
 * real `kindling up` (SIGINT to its whole process group) leaves none. Needs root and crun.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createContainerTier, type ContainerInstance } from '../../src/sandbox/container/index.js';
import { call, cliPath, fixture, runCli, tempDir } from '../helpers/platform.js';
import { assertResult } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

const crunMissing =
  (spawnSync('crun', ['--version']).error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
const skip = crunMissing ? 'crun is not installed (Debian package `crun`: apt-get install -y crun)' : false;

/** crun's containers (its default state dir, as an operator sees it) with their bundle and state. */
function crunList(): { id: string; pid: number; status: string; bundle: string }[] {
  const out = execFileSync('crun', ['list', '--format', 'json'], { encoding: 'utf8', timeout: 10_000 });
  return out.trim() ? JSON.parse(out) : [];
}
const under = (dir: string) => crunList().filter((c) => c.bundle.startsWith(`${dir}/`));

const exited = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => child.once('exit', () => r()));

const tierModule = new URL('../../src/sandbox/container/index.js', import.meta.url).href;

/**
 * A process that starts an instance (and, learning its memory size, a stem cell) in a tier on
 * `stateDir`, then waits to be killed.
 */
async function tierInChild(stateDir: string, codeDir: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { createContainerTier } from ${JSON.stringify(tierModule)};
       const [stateDir, codeDir] = process.argv.slice(1);
       const tier = createContainerTier({ stateDir, stemCells: { perMemoryMb: 1 } });
       await tier.start({ instanceId: 'i-left', functionName: 'left', functionVersion: 1, codeDir,
         entry: 'fn.mjs', memoryMb: 128, concurrency: 1, env: {}, logLimitBytes: 65536 });
       await tier.cellsSettled();
       console.log('started');
       setInterval(() => {}, 1 << 30);`,
      stateDir,
      codeDir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
    child.once('exit', (code) => reject(new Error(`the tier's process exited with ${code}`)));
  });
  return child;
}

describe('container tier: leftovers of an earlier run', { skip }, () => {
  const dirs = new FixtureDirs();
  let codeDir: string;

  before(async () => {
    codeDir = await dirs.make({ 'fn.mjs': `export const handler = async (event) => ({ echo: event });` });
  });
  after(() => dirs.cleanup());

  it('a tier on the same state dir deletes them, running or stopped, and leaves a foreign one alone', async () => {
    const stateDir = join(tempDir('kindling-leftovers-'), 'containers');
    const child = await tierInChild(stateDir, codeDir);
    const left = under(stateDir);
    assert.ok(
      left.some((c) => c.id.startsWith('kindling-i-left-')),
      JSON.stringify(left),
    );
    assert.ok(
      left.some((c) => c.id.startsWith('kindling-cell-')),
      JSON.stringify(left),
    );
    // What a Ctrl-C or a SIGKILL can leave: crun's state without the `crun run` that would delete
    // it. The platform is frozen first (else it would clean up a cell whose crun ended, and start
    // another), then its `crun run`s are killed (else each deletes its container once the runtime
    // inside sees the platform's end), then the platform; the instance's init is killed too, so
    // one container is stopped and the other may still run.
    child.kill('SIGSTOP');
    for (const c of left) {
      const pids = execFileSync('pgrep', ['-f', '--', `--no-new-keyring ${c.id}$`], { encoding: 'utf8' });
      for (const pid of pids.split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    }
    child.kill('SIGKILL');
    await exited(child);
    process.kill(left.find((c) => c.id.startsWith('kindling-i-left-'))!.pid, 'SIGKILL');
    assert.deepEqual(
      under(stateDir)
        .map((c) => c.id)
        .sort(),
      left.map((c) => c.id).sort(),
      'crun still has both containers',
    );

    // Another platform's tier, with a live instance: not this state dir's, so never touched.
    const foreign = createContainerTier({ stateDir: join(tempDir('kindling-foreign-'), 'containers') });
    const next = createContainerTier({ stateDir });
    try {
      const theirs = (await foreign.start(specFor(codeDir, 'fn.mjs'))) as ContainerInstance;
      const removed = await next.removeLeftovers();
      assert.deepEqual([...removed].sort(), left.map((c) => c.id).sort());
      assert.deepEqual(under(stateDir), [], 'nothing of the earlier run is left in crun');
      assert.deepEqual(readdirSync(stateDir), [], 'nor its bundles and stem cells');
      assert.ok(
        crunList().some((c) => c.id === theirs.containerId && c.status === 'running'),
        'the foreign container still runs',
      );
      assert.deepEqual(
        assertResult(await theirs.invoke({ requestId: 'r1', event: { a: 1 }, timeoutMs: 10_000 })),
        { echo: { a: 1 } },
      );
      const ours = await next.start(specFor(codeDir, 'fn.mjs'));
      assert.ok(ours.alive, 'the tier runs containers after cleaning up');
    } finally {
      await Promise.all([foreign.close(), next.close()]);
    }
    assert.deepEqual(under(stateDir), []);
  });

  it('Ctrl-C of kindling up (SIGINT to its process group) leaves no container', async () => {
    const dataDir = tempDir();
    // Its own process group, as a terminal's foreground job: the signal reaches every process in it.
    const up = spawn(process.execPath, [cliPath, 'up', '--port', '0', '--no-examples', '--data', dataDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    up.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    up.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        up.stdout!.on('data', () => output.includes('Kindling is up') && resolve());
        up.once('exit', (code) => reject(new Error(`kindling up exited with ${code}: ${output}`)));
      });
      const deployed = runCli(['deploy', fixture('echo'), '--tier', 'container', '--data-dir', dataDir]);
      assert.equal(deployed.status, 0, deployed.stderr);
      const { url } = JSON.parse(readFileSync(join(dataDir, 'endpoint.json'), 'utf8')) as { url: string };
      const key = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
      const res = await call(url, key, 'POST', '/v1/functions/echo/invoke', { hi: 1 });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-kindling-tier'), 'container');
      assert.ok(under(dataDir).length > 0, 'the instance (and a stem cell) run');
      process.kill(-up.pid!, 'SIGINT');
      await exited(up);
      assert.equal(up.exitCode, 0, output);
      assert.deepEqual(under(dataDir), [], `no container is left: ${output}`);
    } finally {
      if (up.exitCode === null && up.signalCode === null) process.kill(-up.pid!, 'SIGKILL');
    }
  });
});
