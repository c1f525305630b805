/** Validation of the cluster commands' flags: each bad input is one clear line and a non-zero exit. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCli, tempDir } from '../helpers/platform.js';

describe('kindling cluster, worker and up flags', () => {
  const cases: [string[], RegExp][] = [
    [['cluster', 'up', '--hosts', '0'], /invalid --hosts "0"/],
    [['cluster', 'up', '--nic', 'fast'], /invalid rate "fast": use e\.g\. 100mbit/],
    [['cluster', 'up', '--latency', 'soon'], /invalid latency "soon"/],
    [['worker', '--control', 'http://127.0.0.1:9'], /needs an admin key of the control plane/],
    [['worker', '--control', 'not a url', '--key', 'k'], /invalid --control "not a url"/],
    [['worker', '--control', 'http://127.0.0.1:9', '--key', 'k', '--id', 'Bad Id'], /invalid --id "Bad Id"/],
    [['worker', '--control', 'http://127.0.0.1:9', '--key', 'k', '--bandwidth', 'x'], /invalid --bandwidth/],
    [
      ['worker', '--control', 'http://127.0.0.1:9', '--key', 'k', '--memory-mb', '10'],
      /invalid --memory-mb "10": use a whole number of MiB, at least 64/,
    ],
    [
      ['worker', '--control', 'http://127.0.0.1:9', '--key', 'k', '--runtime-snapshot', 'maybe'],
      /invalid --runtime-snapshot "maybe": use auto, always or never/,
    ],
    [
      ['up', '--runtime-snapshot', 'sometimes', '--no-examples', '--data', tempDir()],
      /invalid --runtime-snapshot "sometimes": use auto, always or never/,
    ],
    [
      ['up', '--distribution', 'tree', '--no-examples', '--data', tempDir()],
      /apply to cluster mode: add --cluster/,
    ],
    [
      ['up', '--cluster', '--distribution', 'p2p', '--no-examples', '--data', tempDir()],
      /invalid --distribution "p2p": use registry, swarm, tree/,
    ],
  ];
  it('keeps the platform error code of a refused cluster flag in --json errors', () => {
    const res = runCli(['--json', 'cluster', 'up', '--nic', 'fast'], { KINDLING_KEY: undefined });
    assert.notEqual(res.status, 0);
    const report = JSON.parse(res.stderr) as { error: { code: string; message: string } };
    assert.equal(report.error.code, 'KINDLING_INVALID_CONFIG');
    assert.match(report.error.message, /invalid rate "fast"/);
  });
  for (const [args, message] of cases) {
    it(`refuses ${args.join(' ')}`, () => {
      const res = runCli(args, { KINDLING_KEY: undefined });
      assert.notEqual(res.status, 0);
      assert.match(res.stderr, message);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    });
  }
});
