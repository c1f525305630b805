/** State and accepted async invocations survive the platform being killed (SIGKILL) and restarted. */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { setTimeout } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { call, eventually, fixture, runCli, startPlatformProcess, tempDir } from '../helpers/platform.js';

describe('restart', () => {
  it('completes an accepted async invocation after SIGKILL and restart, with functions intact', async () => {
    const dataDir = tempDir();
    const first = await startPlatformProcess(dataDir);
    try {
      const deployed = runCli(['deploy', fixture('sleeper'), '--data-dir', dataDir, '--json']);
      assert.equal(deployed.status, 0, deployed.stderr);
      const accepted = await call(first.url, first.key, 'POST', '/v1/functions/sleeper/invoke?mode=async', {
        ms: 3000,
        tag: 'survivor',
      });
      assert.equal(accepted.status, 202);
      const id = accepted.body.id as string;
      await eventually(
        async () =>
          (await call(first.url, first.key, 'GET', `/v1/invocations/${id}`)).body.status === 'running'
            ? true
            : undefined,
        30_000,
        'the invocation to start',
      );
      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));

      const second = await startPlatformProcess(dataDir);
      try {
        assert.equal(second.key, first.key, 'the admin key is kept');
        const record = await eventually(
          async () => {
            const r = await call(second.url, second.key, 'GET', `/v1/invocations/${id}`);
            return r.body.status === 'succeeded' || r.body.status === 'failed' ? r.body : undefined;
          },
          60_000,
          'the invocation to finish after the restart',
        );
        assert.equal(record.status, 'succeeded');
        assert.deepEqual(record.result, { slept: 3000, tag: 'survivor' });
        assert.equal(record.attempts, 2, 'it ran again after the crash');
        const fn = await call(second.url, second.key, 'GET', '/v1/functions/sleeper');
        assert.equal(fn.body.latestVersion, 1);
      } finally {
        second.child.kill('SIGTERM');
        await new Promise((r) => second.child.once('exit', r));
      }
    } finally {
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
    }
  });

  it('stops on SIGTERM after answering the invocation in progress, though clients hold a connection unused or a request half-sent', async () => {
    const dataDir = tempDir();
    const platform = await startPlatformProcess(dataDir);
    const idle = new Socket();
    const stalled = new Socket();
    try {
      assert.equal(runCli(['deploy', fixture('sleeper'), '--data-dir', dataDir]).status, 0);
      const { port } = new URL(platform.url);
      // A browser's preconnect, or a client that stalled: connected, nothing sent. Node's
      // server.close() would wait on it (forever, on this server).
      await new Promise<void>((resolve) => idle.connect(Number(port), '127.0.0.1', resolve));
      // A client that stalled halfway through sending a request: its body never comes in whole.
      await new Promise<void>((resolve) => stalled.connect(Number(port), '127.0.0.1', resolve));
      stalled.write(
        `POST /v1/functions/sleeper/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${platform.key}\r\n` +
          'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ms": 1,',
      );
      const pending = call(platform.url, platform.key, 'POST', '/v1/functions/sleeper/invoke', {
        ms: 1000,
        tag: 'drained',
      });
      await eventually(async () => {
        const metrics = await fetch(`${platform.url}/metrics`).then((r) => r.text());
        return /^kindling_instances\{[^}]*state="busy"[^}]*\} 1$/m.test(metrics) ? true : undefined;
      });
      const exited = new Promise<number | null>((r) => platform.child.once('exit', r));
      platform.child.kill('SIGTERM');
      const res = await pending;
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { slept: 1000, tag: 'drained' });
      // A bound so that a platform that never stops fails the test instead of hanging it.
      const stillRunning = setTimeout(60_000).then(() => 'still running 60 s after SIGTERM');
      assert.equal(await Promise.race([exited, stillRunning]), 0, platform.output());
    } finally {
      idle.destroy();
      stalled.destroy();
      if (platform.child.exitCode === null && platform.child.signalCode === null)
        platform.child.kill('SIGKILL');
    }
  });
});
