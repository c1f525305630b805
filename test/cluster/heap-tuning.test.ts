/** The V8 heap flag a local cluster starts its processes with. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { heapTuningFlags, KINDLING_HEAP_FLAGS } from '../../src/cluster/heap-tuning.js';

test('heapTuningFlags gives the flags, and none when the operator opts out', () => {
  assert.deepEqual(heapTuningFlags({}), KINDLING_HEAP_FLAGS);
  assert.deepEqual(heapTuningFlags({ KINDLING_V8_HEAP: 'default' }), []);
});

test('this Node starts with the flags (an unknown V8 option would stop it with "bad option")', () => {
  const argv = execFileSync(
    process.execPath,
    [...KINDLING_HEAP_FLAGS, '-e', 'process.stdout.write(JSON.stringify(process.execArgv.slice(0, -2)))'],
    { encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(argv), KINDLING_HEAP_FLAGS);
});
