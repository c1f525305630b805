/**
 * What the container tier isolates: processes, files, the root filesystem, the network, pids and
 * memory. Each test asks the function what it can see or do, and checks the answer from the host.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createContainerTier } from '../../src/sandbox/container/index.js';
import type { ContainerInstance, ContainerTier } from '../../src/sandbox/container/index.js';
import type { SandboxInstance } from '../../src/sandbox/tier.js';
import { assertFails, assertResult } from './compliance.js';
import { FixtureDirs, specFor } from './fixtures.js';

const PROBE = `
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
const attempt = (fn) => { try { fn(); return 'ok'; } catch (err) { return err.code ?? String(err); } };
// Resolves with the error code of a TCP connection attempt, or 'connected'; bounded at 3 s.
const tryConnect = (host, port) => new Promise((resolve) => {
  const socket = connect({ host, port });
  socket.setTimeout(3000, () => { socket.destroy(); resolve('timeout'); });
  socket.once('connect', () => { socket.destroy(); resolve('connected'); });
  socket.once('error', (err) => resolve(err.code));
});
export async function handler(event) {
  switch (event.op) {
    case 'pids': return readdirSync('/proc').filter((name) => /^\\d+$/.test(name));
    case 'read': return Object.fromEntries(event.paths.map((p) => [p, attempt(() => readFileSync(p))]));
    case 'write': return Object.fromEntries(event.paths.map((p) => [p, attempt(() => writeFileSync(p, 'x'))]));
    case 'net': return {
      interfaces: Object.keys(networkInterfaces()),
      outside: await tryConnect(event.host, event.port),
      loopback: await tryConnect('127.0.0.1', event.port),
    };
    case 'fork-bomb': {
      // Children that would live 20 s; stops at the first refused spawn (or after 500).
      let spawned = 0;
      let refused;
      for (let i = 0; i < 500 && !refused; i++) {
        const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
        refused = await new Promise((resolve) => {
          child.once('spawn', () => resolve(undefined));
          child.once('error', (err) => resolve(err.code));
        });
        if (!refused) spawned++;
      }
      return { spawned, refused };
    }
    case 'buffer-bomb': {
      const hold = [];
      for (let i = 0; i < 8192; i++) hold.push(Buffer.alloc(1 << 20, 1));
      return 'survived';
    }
    default: return 'pong';
  }
}
`;

/** An address outside the container: its network namespace has no route to anything but loopback. */
function hostAddress(): string {
  return '10.255.255.1';
}

describe('container isolation', () => {
  const dirs = new FixtureDirs();
  let tier: ContainerTier;
  let dir: string;
  let secretDir: string;
  let server: Server;
  let port: number;
  const instances: SandboxInstance[] = [];

  before(async () => {
    tier = createContainerTier({ pidsLimit: 64 });
    dir = await dirs.make({ 'probe.mjs': PROBE });
    secretDir = await mkdtemp(join(tmpdir(), 'kindling-secret-'));
    await writeFile(join(secretDir, 'platform.db'), 'api keys');
    server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await tier.close();
    server.close();
    await rm(secretDir, { recursive: true, force: true });
    await dirs.cleanup();
  });

  async function probe(event: Record<string, unknown>, memoryMb = 128) {
    const instance = await tier.start(specFor(dir, 'probe.mjs', { memoryMb }));
    instances.push(instance);
    return {
      instance,
      outcome: await instance.invoke({ requestId: `r-${instances.length}`, event, timeoutMs: 60_000 }),
    };
  }

  test('the function sees only its own processes', async () => {
    const { outcome } = await probe({ op: 'pids' });
    assert.deepEqual(assertResult(outcome), ['1']);
  });

  test('host files outside its mounts are not there', async () => {
    const paths = ['/etc/shadow', join(secretDir, 'platform.db'), '/root/.bashrc', '/fn/probe.mjs'];
    const seen = assertResult((await probe({ op: 'read', paths })).outcome) as Record<string, string>;
    assert.equal(seen['/etc/shadow'], 'ENOENT');
    assert.equal(seen[join(secretDir, 'platform.db')], 'ENOENT');
    assert.equal(seen['/root/.bashrc'], 'ENOENT');
    assert.equal(seen['/fn/probe.mjs'], 'ok', 'its own code is readable');
  });

  test('the root filesystem and the code are read-only; /tmp is writable', async () => {
    const paths = [
      '/fn/probe.mjs',
      '/fn/new.txt',
      '/etc/passwd',
      '/usr/lib/x',
      '/new.txt',
      '/tmp/scratch.txt',
    ];
    const seen = assertResult((await probe({ op: 'write', paths })).outcome) as Record<string, string>;
    for (const p of paths.slice(0, 5)) assert.equal(seen[p], 'EROFS', p);
    assert.equal(seen['/tmp/scratch.txt'], 'ok');
    assert.equal(readFileSync(join(dir, 'probe.mjs'), 'utf8'), PROBE, 'the host copy is untouched');
  });

  test('no network beyond loopback', async () => {
    const seen = assertResult((await probe({ op: 'net', host: hostAddress(), port })).outcome) as Record<
      string,
      unknown
    >;
    assert.deepEqual(seen.interfaces, ['lo']);
    assert.equal(seen.outside, 'ENETUNREACH');
    // The host's server listens on every host address; the container's own loopback has no listener.
    assert.equal(seen.loopback, 'ECONNREFUSED');
  });

  test('a fork bomb is stopped by the pids limit; the host keeps serving', async () => {
    const { instance, outcome } = await probe({ op: 'fork-bomb' }, 2048);
    const id = (instance as ContainerInstance).containerId;
    const events = readFileSync(`/sys/fs/cgroup/pids/kindling/${id}/ctr/pids.events`, 'latin1');
    const bomb = outcome.ok ? (outcome.result as { spawned: number; refused?: string }) : undefined;
    // Either the function saw a spawn refused (EAGAIN), or a child died of it; the cgroup counted it.
    assert.match(events, /max [1-9]/, `pids.events: ${events}; outcome: ${JSON.stringify(bomb)}`);
    await instance.stop();
    const next = await probe({ op: 'ping' });
    assert.equal(assertResult(next.outcome), 'pong');
  });

  test('a memory bomb is stopped by the memory cgroup; the host keeps serving', async () => {
    const { instance, outcome } = await probe({ op: 'buffer-bomb' });
    const err = assertFails(outcome, 'KINDLING_MEMORY_LIMIT');
    assert.match(err.message, /limit of 128 MiB/);
    assert.equal((await instance.exited).reason, 'memory');
    const next = await probe({ op: 'ping' });
    assert.equal(assertResult(next.outcome), 'pong');
  });
});
