/**
 * The live feed's window of finished invocations, oldest first, in a fixed ring of typed arrays.
 *
 * A window of tens of thousands of small objects (one per invocation, each living up to a minute) was
 * promoted out of the young generation one by one and then collected by the old generation's
 * collector: a measurable share of a warm invocation's CPU under load. Here a sample is four numbers
 * written into preallocated arrays, and its function is an index into a table of the functions seen.
 */

/** One sample as the window hands it back. */
export interface WindowSample {
  tenant: string;
  /** `tenant/function`. */
  key: string;
  totalMs: number;
  cold: boolean;
  error: boolean;
}

const COLD = 1;
const ERROR = 2;

/** A ring of at most `capacity` samples. */
export class SampleWindow {
  private readonly at: Float64Array;
  private readonly totalMs: Float64Array;
  private readonly flags: Uint8Array;
  private readonly fn: Uint32Array;
  /** Index of the oldest sample. */
  private head = 0;
  private count = 0;
  /** The functions seen, by tenant and name; their tenants and keys by index. */
  private readonly ids = new Map<string, Map<string, number>>();
  private readonly tenants: string[] = [];
  private readonly keys: string[] = [];

  constructor(private readonly capacity: number) {
    this.at = new Float64Array(capacity);
    this.totalMs = new Float64Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.fn = new Uint32Array(capacity);
  }

  /** Samples held. */
  get length(): number {
    return this.count;
  }

  /** Appends a sample; the window must not be full (drop the oldest first). */
  push(
    tenant: string,
    functionName: string,
    at: number,
    totalMs: number,
    cold: boolean,
    error: boolean,
  ): void {
    if (this.count === this.capacity)
      throw new RangeError(`the sample window holds ${this.capacity} samples; drop the oldest first`);
    const i = (this.head + this.count) % this.capacity;
    this.at[i] = at;
    this.totalMs[i] = totalMs;
    this.flags[i] = (cold ? COLD : 0) | (error ? ERROR : 0);
    this.fn[i] = this.idOf(tenant, functionName);
    this.count++;
  }

  /** When the `n`-th oldest sample (0 = the oldest) was taken. */
  atOf(n: number): number {
    return this.at[(this.head + n) % this.capacity]!;
  }

  /** Drops the `n` oldest samples. */
  dropOldest(n: number): void {
    const drop = Math.min(n, this.count);
    this.head = (this.head + drop) % this.capacity;
    this.count -= drop;
    // Functions are remembered while they have samples; an empty window forgets them all.
    if (this.count === 0) {
      this.ids.clear();
      this.tenants.length = 0;
      this.keys.length = 0;
    }
  }

  /** Calls `visit` for each sample, oldest first (the object passed is reused: copy what you keep). */
  forEach(visit: (sample: Readonly<WindowSample>) => void): void {
    const s: WindowSample = { tenant: '', key: '', totalMs: 0, cold: false, error: false };
    for (let n = 0; n < this.count; n++) {
      const i = (this.head + n) % this.capacity;
      const id = this.fn[i]!;
      s.tenant = this.tenants[id]!;
      s.key = this.keys[id]!;
      s.totalMs = this.totalMs[i]!;
      s.cold = (this.flags[i]! & COLD) !== 0;
      s.error = (this.flags[i]! & ERROR) !== 0;
      visit(s);
    }
  }

  private idOf(tenant: string, functionName: string): number {
    let byName = this.ids.get(tenant);
    if (!byName) this.ids.set(tenant, (byName = new Map()));
    let id = byName.get(functionName);
    if (id === undefined) {
      // More functions remembered than samples can name: forget those no sample names any more.
      if (this.keys.length >= this.capacity) return this.compactThenAdd(tenant, functionName);
      id = this.keys.length;
      byName.set(functionName, id);
      this.tenants.push(tenant);
      this.keys.push(`${tenant}/${functionName}`);
    }
    return id;
  }

  /** Rebuilds the function table from the samples held, then adds one function. */
  private compactThenAdd(tenant: string, functionName: string): number {
    const tenants = this.tenants.splice(0);
    const keys = this.keys.splice(0);
    this.ids.clear();
    for (let n = 0; n < this.count; n++) {
      const i = (this.head + n) % this.capacity;
      const old = this.fn[i]!;
      this.fn[i] = this.idOf(tenants[old]!, keys[old]!.slice(tenants[old]!.length + 1));
    }
    return this.idOf(tenant, functionName);
  }
}
