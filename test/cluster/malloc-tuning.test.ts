import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { KINDLING_MALLOC_TUNABLES, withMallocTuning } from '../../src/cluster/malloc-tuning.js';

test('withMallocTuning adds the tunables, and leaves an operator’s own or an opt-out alone', () => {
  assert.equal(withMallocTuning({ PATH: '/bin' }).GLIBC_TUNABLES, KINDLING_MALLOC_TUNABLES);
  assert.equal(
    withMallocTuning({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES,
    'glibc.malloc.arena_max=2',
  );
  assert.equal(withMallocTuning({ GLIBC_TUNABLES: '' }).GLIBC_TUNABLES, '');
  assert.equal(withMallocTuning({ KINDLING_MALLOC: 'default' }).GLIBC_TUNABLES, undefined);
  const env = { PATH: '/bin' };
  withMallocTuning(env);
  assert.deepEqual(env, { PATH: '/bin' }, 'the given environment is not changed');
});

test('a Node process started with the tunables runs normally', () => {
  const r = spawnSync(process.execPath, ['-e', 'const b = Buffer.alloc(1 << 20); console.log(b.length)'], {
    env: withMallocTuning({ PATH: process.env.PATH }),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), String(1 << 20));
});
