/** The async dispatcher's `queue` phase: from the request's arrival to the dispatch, on the injected clock. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AsyncDispatcher } from '../../src/control/async-dispatcher.js';
import { openDatabase } from '../../src/control/db.js';
import type { FunctionStore, FunctionVersion } from '../../src/control/functions.js';
import { InvocationStore } from '../../src/control/invocations.js';
import type { Execution, ExecutionResult, Invoker } from '../../src/control/invoker.js';
import { ManualClock } from '../../src/core/clock.js';
import { emptyPhases } from '../../src/core/phases.js';

/** A dispatcher over a real (in-memory) store whose invoker holds every execution until released. */
function setup(clock: ManualClock, store = new InvocationStore(openDatabase(':memory:'))) {
  const executions: { exec: Execution; finish(): void }[] = [];
  const invoker = {
    execute: (exec: Execution) =>
      new Promise<ExecutionResult>((resolve) => {
        executions.push({
          exec,
          finish: () =>
            resolve({
              ok: true,
              completion: {
                status: 'succeeded',
                logs: [],
                logsDroppedBytes: 0,
                phases: { ...emptyPhases(), queue: exec.queuedMs },
                totalMs: exec.queuedMs,
              },
            }),
        });
      }),
  } as unknown as Invoker;
  const functions = { getVersion: () => ({}) as FunctionVersion } as unknown as FunctionStore;
  const dispatcher = new AsyncDispatcher({
    invocations: store,
    functions,
    invoker,
    clock,
    concurrency: 1,
    onError: (err) => assert.fail(String(err)),
  });
  const enqueue = (id: string, createdAt = clock.now()) =>
    store.enqueue({ id, tenant: 't', functionName: 'f', version: 1, payload: '{}', createdAt });
  return { store, dispatcher, executions, enqueue };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('AsyncDispatcher', () => {
  it('measures the queue phase from the arrival of the request to its dispatch, below a millisecond too', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { dispatcher, executions, enqueue } = setup(clock);
    dispatcher.start();
    // Arrived 0.25 ms before it was enqueued (parsing, the durable commit), dispatched at once.
    enqueue('a');
    dispatcher.accepted('a', clock.monotonic() - 0.25);
    assert.equal(executions.length, 1);
    assert.equal(executions[0]!.exec.queuedMs, 0.25);
    // The next one waits in the queue while the only slot is busy.
    enqueue('b');
    dispatcher.accepted('b', clock.monotonic());
    assert.equal(executions.length, 1, 'concurrency 1: b waits');
    clock.advance(1234.5);
    executions[0]!.finish();
    await settle();
    assert.equal(executions.length, 2);
    assert.equal(executions[1]!.exec.id, 'b');
    assert.equal(executions[1]!.exec.queuedMs, 1234.5);
    executions[1]!.finish();
    await dispatcher.stop();
  });

  it('measures an invocation accepted before a restart from its durable createdAt', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const { dispatcher, executions, enqueue } = setup(clock);
    enqueue('old', clock.now() - 5000);
    dispatcher.start();
    assert.equal(executions.length, 1);
    assert.equal(executions[0]!.exec.queuedMs, 5000);
    executions[0]!.finish();
    await dispatcher.stop();
  });
});
