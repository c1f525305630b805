/**
 * Stem cells: pre-started, generic runtime processes that are specialised to a function on demand,
 * as OpenWhisk's prewarmed stem cells and Fission's pool manager do. A cold start that finds one
 * skips the spawn and Node's boot (the `sandbox` and `runtime` phases) and pays only the
 * specialisation message and the user module's load.
 *
 * A stem cell has run no user code: it is the bare runtime shim, started with the minimal base
 * environment in a neutral directory, and each one becomes exactly one instance. Cells are kept per
 * memory size, because the V8 heap limit is fixed when the process starts.
 *
 * Sizing policy: keep `perMemoryMb` idle cells for every memory size listed up front or seen in a
 * start; after a cell is taken, a replacement is started in the background `refillDelayMs` later, not
 * at once: `spawn()` blocks the event loop while it forks (8-10 ms from a platform process here) and
 * a booting Node takes a core for tens of milliseconds, both of which landed on the cold start that
 * took the cell (its request measured 32 ms end to end for 12 ms of phases, the rest waiting).
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { KindlingError } from '../../core/errors.js';
import { FrameDecoder } from './protocol.cjs';

/** How many stem cells to keep. */
export interface StemCellPolicy {
  /** Idle cells kept ready per memory size; 0 turns stem cells off. */
  perMemoryMb: number;
  /** Memory sizes to keep cells for from the start (others are added when first seen). */
  memoryMb?: number[];
  /** Delay before replacing a taken cell (or stocking a size first seen); default 50 ms. */
  refillDelayMs?: number;
}

/** A ready stem cell, handed over to become an instance. */
export interface StemCell {
  child: ChildProcess;
  memoryMb: number;
}

interface Cell extends StemCell {
  ready: boolean;
  release: () => void;
}

/** Longest a cell may take to boot before it is given up (it is then killed and replaced later). */
const BOOT_TIMEOUT_MS = 10_000;

/** The pool of stem cells of one process tier. */
export class StemCellPool {
  private readonly cells = new Map<number, Set<Cell>>();
  /** Memory sizes with a refill scheduled. */
  private readonly refills = new Map<number, TimerHandle>();
  private readonly refillDelayMs: number;
  private closed = false;

  /**
   * @param spawnCell starts a generic runtime for a memory size (a stem-cell config, base environment).
   */
  constructor(
    private readonly policy: StemCellPolicy,
    private readonly spawnCell: (memoryMb: number) => ChildProcess,
    private readonly clock: Clock,
  ) {
    this.refillDelayMs = policy.refillDelayMs ?? 50;
    if (!Number.isFinite(this.refillDelayMs) || this.refillDelayMs < 0) {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `stem cells' refillDelayMs must be a number of milliseconds >= 0, got ${this.refillDelayMs}`,
      );
    }
    for (const mb of policy.memoryMb ?? []) this.fill(mb);
  }

  /** Takes a ready cell of `memoryMb`, or undefined; either way the size is kept stocked from now on. */
  take(memoryMb: number): StemCell | undefined {
    if (this.closed || this.policy.perMemoryMb <= 0) return undefined;
    const set = this.cells.get(memoryMb);
    let taken: Cell | undefined;
    for (const cell of set ?? []) {
      if (cell.ready && cell.child.exitCode === null && cell.child.signalCode === null) {
        taken = cell;
        break;
      }
    }
    if (taken) {
      set!.delete(taken);
      taken.release();
    }
    this.scheduleFill(memoryMb);
    return taken ? { child: taken.child, memoryMb } : undefined;
  }

  /** Idle cells by memory size (ready, or booting: started or about to be), for metrics and tests. */
  counts(): Record<number, { ready: number; booting: number }> {
    const out: Record<number, { ready: number; booting: number }> = {};
    for (const mb of new Set([...this.cells.keys(), ...this.refills.keys()])) {
      const set = this.cells.get(mb) ?? new Set<Cell>();
      let ready = 0;
      for (const c of set) if (c.ready) ready++;
      const scheduled = this.refills.has(mb) ? Math.max(0, this.policy.perMemoryMb - set.size) : 0;
      out[mb] = { ready, booting: set.size - ready + scheduled };
    }
    return out;
  }

  /** Process ids of the idle cells. */
  pids(): number[] {
    const out: number[] = [];
    for (const set of this.cells.values())
      for (const c of set) if (c.child.pid !== undefined) out.push(c.child.pid);
    return out;
  }

  /** Resolves once every memory size has its cells ready (or `ms` passed); for benchmarks and tests. */
  async settled(ms = BOOT_TIMEOUT_MS): Promise<void> {
    const deadline = this.clock.monotonic() + ms;
    while (this.clock.monotonic() < deadline) {
      const all = Object.values(this.counts());
      if (all.every((c) => c.booting === 0)) return;
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Kills every idle cell. */
  close(): void {
    this.closed = true;
    for (const timer of this.refills.values()) this.clock.clearTimer(timer);
    this.refills.clear();
    for (const set of this.cells.values()) {
      for (const cell of set) kill(cell.child);
      set.clear();
    }
    this.cells.clear();
  }

  /** Starts cells for `memoryMb` after `refillDelayMs`, once however often it is asked for meanwhile. */
  private scheduleFill(memoryMb: number): void {
    if (this.closed || this.policy.perMemoryMb <= 0 || this.refills.has(memoryMb)) return;
    this.refills.set(
      memoryMb,
      this.clock.setTimer(() => {
        this.refills.delete(memoryMb);
        this.fill(memoryMb);
      }, this.refillDelayMs),
    );
  }

  /** Starts cells until `memoryMb` has its quota (ready or booting). */
  private fill(memoryMb: number): void {
    if (this.closed || this.policy.perMemoryMb <= 0) return;
    let set = this.cells.get(memoryMb);
    if (!set) {
      set = new Set();
      this.cells.set(memoryMb, set);
    }
    while (set.size < this.policy.perMemoryMb) set.add(this.boot(memoryMb, set));
  }

  private boot(memoryMb: number, set: Set<Cell>): Cell {
    const child = this.spawnCell(memoryMb);
    const channel = child.stdio[3] as Socket;
    const onData = (chunk: Buffer) => decoder.push(chunk);
    const timer = this.clock.setTimer(() => kill(child), BOOT_TIMEOUT_MS);
    const onExit = () => {
      this.clock.clearTimer(timer);
      set.delete(cell);
      // A cell that died idle is replaced, but not in a loop: only when it had booted once.
      if (cell.ready) this.fill(memoryMb);
    };
    const cell: Cell = {
      child,
      memoryMb,
      ready: false,
      // Hands the process over: the instance attaches its own listeners in its constructor, in the
      // same tick, and the shim sends nothing until it is specialised, so no frame is lost between.
      release: () => {
        this.clock.clearTimer(timer);
        channel.off('data', onData);
        child.off('exit', onExit);
      },
    };
    const decoder = new FrameDecoder(
      (message) => {
        if ((message as { type?: unknown }).type === 'runtime-ready') {
          cell.ready = true;
          this.clock.clearTimer(timer);
        }
      },
      () => kill(child),
    );
    channel.on('data', onData);
    // The cell's own errors surface as its exit.
    channel.on('error', () => {});
    child.on('error', () => {});
    child.once('exit', onExit);
    return cell;
  }
}

function kill(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
