/** State and accepted async invocations survive the platform being killed (SIGKILL) and restarted. */
import assert from 'node:assert/strict';
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
});
