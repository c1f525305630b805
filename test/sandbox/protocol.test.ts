/**
 * Unit tests of the process tier's pure parts: frame codec, log budgets, the memory split, exit
 * classification.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exitReason, isHeapOutOfMemory } from '../../src/sandbox/process/instance-errors.js';
import type { ExitFacts } from '../../src/sandbox/process/instance-errors.js';
import { LogCapture, RawLineSplitter } from '../../src/sandbox/process/log-capture.js';
import { heapLimitsFor } from '../../src/sandbox/process/memory.js';
import { encodeFrame, encodeJsonFrame, FrameDecoder } from '../../src/sandbox/process/protocol.cjs';
import type { RuntimeMessage } from '../../src/sandbox/process/protocol.cjs';

function collect(maxFrameBytes?: number) {
  const frames: unknown[] = [];
  const errors: string[] = [];
  const decoder = new FrameDecoder(
    (frame) => frames.push(frame),
    (reason) => errors.push(reason),
    maxFrameBytes,
  );
  return { frames, errors, decoder };
}

describe('FrameDecoder', () => {
  const messages: RuntimeMessage[] = [
    { type: 'runtime-ready', uptimeMs: 1 },
    { type: 'log', requestId: 'r', lines: [[1, 'log', 'héllo ✓']] },
    { type: 'ready', shape: 'default', uptimeMs: 2 },
  ];
  const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));

  test('many frames in one chunk', () => {
    const { frames, errors, decoder } = collect();
    decoder.push(stream);
    assert.deepEqual(frames, messages);
    assert.deepEqual(errors, []);
    assert.equal(decoder.pendingBytes, 0);
  });

  test('frames split at every possible byte, including inside the length header', () => {
    for (let size = 1; size <= 7; size++) {
      const { frames, errors, decoder } = collect();
      for (let i = 0; i < stream.length; i += size) decoder.push(stream.subarray(i, i + size));
      assert.deepEqual(frames, messages, `chunks of ${size}`);
      assert.deepEqual(errors, []);
    }
  });

  test('a large frame arriving in many chunks', () => {
    const big = { type: 'result', requestId: 'r', ok: true, result: 'x'.repeat(3 * 1024 * 1024) };
    const frame = encodeFrame(big as never);
    const { frames, decoder } = collect();
    for (let i = 0; i < frame.length; i += 65536) decoder.push(frame.subarray(i, i + 65536));
    assert.deepEqual(frames, [big]);
  });

  test('rejects an absurd length once, then ignores the rest', () => {
    const { frames, errors, decoder } = collect(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xfffffff0);
    decoder.push(Buffer.concat([header, Buffer.from('garbage')]));
    decoder.push(encodeFrame({ type: 'runtime-ready', uptimeMs: 1 }));
    assert.deepEqual(frames, []);
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, /over the limit of 1024 bytes/);
  });

  test('rejects a frame that is not JSON', () => {
    const { errors, decoder } = collect();
    decoder.push(encodeJsonFrame('{nope'));
    assert.equal(errors.length, 1);
    assert.match(errors[0] as string, /not valid JSON/);
  });
});

describe('LogCapture and RawLineSplitter', () => {
  test('keeps whole lines within the budget, the head of the crossing line, and counts the rest', () => {
    const capture = new LogCapture(20);
    capture.add(2, 'log', 'hello'); // 6 bytes
    capture.add(1, 'info', 'world!!'); // 8 bytes, 14 used
    capture.add(3, 'warn', 'this line is too long'); // 22 bytes: 5 kept + newline, 16 dropped
    capture.add(4, 'error', 'gone'); // 5 bytes dropped
    assert.equal(capture.full, true);
    const { logs, droppedBytes } = capture.take();
    assert.deepEqual(
      logs.map((l) => [l.t, l.msg]),
      [
        [1, 'world!!'],
        [2, 'hello'],
        [3, 'this '],
      ],
    );
    assert.equal(droppedBytes, 16 + 5);
  });

  test('splits raw chunks into lines across chunk and UTF-8 boundaries', () => {
    const capture = new LogCapture(1024);
    const splitter = new RawLineSplitter('stdout', () => 5, 1024);
    const bytes = Buffer.from('one\ntwo ✓\nthr');
    for (let i = 0; i < bytes.length; i++) splitter.push(bytes.subarray(i, i + 1), capture);
    splitter.push(Buffer.from('ee'), capture);
    splitter.flushIfOwnedBy(capture);
    assert.deepEqual(
      capture.take().logs.map((l) => [l.level, l.msg]),
      [
        ['stdout', 'one'],
        ['stdout', 'two ✓'],
        ['stdout', 'three'],
      ],
    );
  });

  test('once the budget is spent, raw bytes are only counted', () => {
    const capture = new LogCapture(10);
    const splitter = new RawLineSplitter('stderr', () => 0, 10);
    splitter.push(Buffer.from('0123456789abcdef\n'), capture);
    splitter.push(Buffer.alloc(1000, 0x61), capture);
    const { logs, droppedBytes } = capture.take();
    assert.deepEqual(
      logs.map((l) => l.msg),
      ['012345678'],
    );
    assert.equal(droppedBytes, 17 - 10 + 1000);
  });
});

describe('memory split', () => {
  test('the V8 heap gets a share of memoryMb and leaves room for Node itself', () => {
    for (const memoryMb of [64, 128, 256, 512, 1024, 4096]) {
      const { heapMb, oldSpaceMb, semiSpaceMb } = heapLimitsFor(memoryMb);
      assert.ok(heapMb <= memoryMb * 0.75 || heapMb === 16, `${memoryMb}: heap ${heapMb}`);
      assert.ok(memoryMb - heapMb >= 48 || heapMb === 16, `${memoryMb}: reserve`);
      assert.equal(heapMb, oldSpaceMb + 3 * semiSpaceMb);
      assert.ok(semiSpaceMb >= 1 && semiSpaceMb <= 16);
    }
    assert.deepEqual(heapLimitsFor(128), { oldSpaceMb: 74, semiSpaceMb: 2, heapMb: 80 });
  });
});

describe('exit classification', () => {
  const facts = (over: Partial<ExitFacts>): ExitFacts => ({
    code: null,
    signal: null,
    killReason: undefined,
    fatal: undefined,
    stderrTail: '',
    ...over,
  });

  test('host decisions win, then V8 OOM, then crashes, then plain exits', () => {
    const oom = 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory';
    assert.equal(isHeapOutOfMemory(oom), true);
    assert.equal(exitReason(facts({ killReason: 'timeout', signal: 'SIGKILL' })), 'timeout');
    assert.equal(exitReason(facts({ signal: 'SIGABRT', stderrTail: oom })), 'memory');
    assert.equal(
      exitReason(
        facts({
          code: 1,
          fatal: { type: 'fatal', origin: 'uncaughtException', message: 'x', stack: undefined },
        }),
      ),
      'crashed',
    );
    assert.equal(exitReason(facts({ signal: 'SIGSEGV' })), 'crashed');
    assert.equal(exitReason(facts({ code: 0 })), 'exited');
  });
});
