/**
 * A scripted SandboxTier for unit tests of the pool: instances start and answer when the test says
 * so, so scheduling decisions can be checked exactly, with a ManualClock and no processes. The real
 * tiers are exercised by the sandbox compliance suite and the end-to-end tests.
 */
import { KindlingError } from '../../src/core/errors.js';
import type {
  ExitInfo,
  InstanceSpec,
  InvokeOutcome,
  InvokeRequest,
  SandboxInstance,
  SandboxTier,
  StartTimings,
} from '../../src/sandbox/tier.js';

export class FakeInstance implements SandboxInstance {
  readonly tier = 'process' as const;
  readonly pid = undefined;
  readonly timings: StartTimings = { sandboxMs: 1, runtimeMs: 2, initMs: 3, startPath: 'plain' };
  inflight = 0;
  alive = true;
  readonly calls: InvokeRequest[] = [];
  private readonly pending: ((o: InvokeOutcome) => void)[] = [];
  private exit!: (info: ExitInfo) => void;
  readonly exited = new Promise<ExitInfo>((resolve) => (this.exit = resolve));

  constructor(readonly id: string) {}

  invoke(req: InvokeRequest): Promise<InvokeOutcome> {
    this.calls.push(req);
    this.inflight++;
    return new Promise((resolve) =>
      this.pending.push((o) => {
        this.inflight--;
        resolve(o);
      }),
    );
  }

  /** Completes the oldest pending invocation. */
  answer(result: unknown = 'ok'): void {
    const next = this.pending.shift();
    if (!next) throw new Error(`instance ${this.id} has nothing pending`);
    next({ ok: true, result, execMs: 1, logs: [], logsDroppedBytes: 0 });
  }

  crash(): void {
    this.alive = false;
    for (const p of this.pending.splice(0)) {
      p({
        ok: false,
        error: new KindlingError('KINDLING_INSTANCE_CRASHED', 'crashed'),
        execMs: 1,
        logs: [],
        logsDroppedBytes: 0,
      });
    }
    this.exit({ reason: 'crashed', code: 1, signal: null, stderrTail: '' });
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.alive = false;
    this.exit({ reason: 'stopped', code: null, signal: 'SIGKILL', stderrTail: '' });
  }

  memoryBytes(): number | undefined {
    return undefined;
  }
}

export class FakeTier implements SandboxTier {
  readonly name = 'process' as const;
  readonly instances: FakeInstance[] = [];
  readonly specs: InstanceSpec[] = [];
  /** When set, the next start fails with this error. */
  failNext: KindlingError | undefined;

  async start(spec: InstanceSpec): Promise<SandboxInstance> {
    this.specs.push(spec);
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = undefined;
      throw err;
    }
    const inst = new FakeInstance(spec.instanceId);
    this.instances.push(inst);
    return inst;
  }

  async close(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.stop()));
  }

  get alive(): FakeInstance[] {
    return this.instances.filter((i) => i.alive);
  }
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}
