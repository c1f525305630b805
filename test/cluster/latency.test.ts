/**
 * `--latency` on the network-namespace test cluster: every link end delays what crosses it (with
 * netem where the kernel has it, else through a delay line of TAP devices), the links keep their
 * shaping, and closing leaves no namespace or forwarder behind.
 *
 * Needs root and iproute2, and on kernels without netem a C compiler (CI installs gcc).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { buildNetnsNetwork, netnsClusterDown, netnsUnavailable } from '../../src/cluster/netns.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliPath, eventually, tempDir } from '../helpers/platform.js';

const why = netnsUnavailable();
const LATENCY_MS = 5;

/** A netns network of `hosts` workers whose every link end delays LATENCY_MS. */
const delayedNetwork = (hosts: number, dataDir: string) =>
  buildNetnsNetwork({
    hosts,
    nicBitsPerSec: 50e6,
    registryNicBitsPerSec: 100e6,
    latencyMs: LATENCY_MS,
    dataDir,
  });

/** An echo server in `ns` on port 9000; resolves once it listens, with a way to stop it. */
async function echoServer(ns: string): Promise<() => void> {
  const server = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      '-e',
      `require('net').createServer((s) => s.pipe(s)).listen(9000, () => console.log('listening'))`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    server.stdout!.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`echo server exited with ${code}`)));
  });
  return () => server.kill('SIGKILL');
}

/** Round trips of one byte from `ns` to `address`:9000 on one connection, in ms. */
function roundTrips(ns: string, address: string, count: number): number[] {
  const script = `
    const s = require('net').connect(9000, ${JSON.stringify(address)}, () => {
      const times = [];
      let sent = 0n;
      const next = () => { sent = process.hrtime.bigint(); s.write('x'); };
      s.on('data', () => {
        times.push(Number(process.hrtime.bigint() - sent) / 1e6);
        if (times.length < ${count}) next(); else { console.log(JSON.stringify(times)); s.destroy(); }
      });
      s.setNoDelay(true);
      next();
    });`;
  const out = execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as number[];
}

/** Command lines of running processes that mention `text`. */
function processesMentioning(text: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(text) && !line.startsWith('ps '));
}

describe('link latency on the netns cluster', { skip: why ? `netns unavailable: ${why}` : false }, () => {
  it('delays each link end, keeps the shaping, and leaves nothing behind on close', async () => {
    const dataDir = tempDir('kindling-latency-');
    const net = await delayedNetwork(2, dataDir);
    const namespaces = [net.controlNs!, ...net.workerNs.map((ns) => ns!)];
    try {
      assert.ok(!net.warnings.some((w) => w.includes('ignored')), net.warnings.join('; '));
      const stop = await echoServer(net.workerNs[1]!);
      try {
        const times = roundTrips(net.workerNs[0]!, net.workerIps[1]!, 10);
        // Each way crosses h1's link and h2's: four link ends per round trip.
        assert.ok(Math.min(...times) >= 4 * LATENCY_MS, `round trips ${times.join(', ')} ms`);
      } finally {
        stop();
      }
      // The shaping's per-peer classes still see the traffic (the link is shaped, then delayed).
      assert.ok((net.uploadByPeer(0).get(net.workerIps[1]!) ?? 0) > 0, 'h1 → h2 counted on h1 link');
    } finally {
      net.teardown();
    }
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const ns of namespaces) assert.ok(!left.includes(ns), `namespace ${ns} is still there`);
    assert.deepEqual(processesMentioning(dataDir), [], 'no forwarder outlives the network');
  });

  it('a network left behind by a crash is removed with its forwarders', async () => {
    const dataDir = tempDir('kindling-latency-crash-');
    const net = await delayedNetwork(1, dataDir);
    const forwarders = processesMentioning(dataDir).length;
    // As `kindling cluster down` does after the owner died without its teardown.
    const removed = netnsClusterDown(dataDir);
    assert.ok(removed.includes(net.controlNs!) && removed.includes(net.workerNs[0]!), removed.join(' '));
    assert.equal(forwarders, 2, 'a forwarder per link: the control plane and h1');
    await eventually(
      async () => (processesMentioning(dataDir).length === 0 ? true : undefined),
      10_000,
      'the forwarders to die',
    );
  });
  it('`cluster up` interrupted twice in a row still removes every namespace and forwarder', async () => {
    const dataDir = tempDir('kindling-latency-sigint-');
    const child = spawn(
      process.execPath,
      [cliPath, 'cluster', 'up', '--hosts', '1', '--latency', '1ms', '--data', dataDir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await eventually(
      async () => (out.includes('Ctrl-C stops') ? true : undefined),
      120_000,
      `cluster up: ${out}`,
    );
    const { namespaces } = JSON.parse(readFileSync(join(dataDir, 'netns-cluster.json'), 'utf8')) as {
      namespaces: string[];
    };
    // An impatient double Ctrl-C: the second arrives while the first's teardown runs.
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGINT');
    await exited;
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    for (const ns of namespaces) assert.ok(!left.includes(ns), `namespace ${ns} is still there: ${out}`);
    assert.deepEqual(processesMentioning(dataDir), []);
  });
});
