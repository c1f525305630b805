/**
 * Container stem cells: containers created ahead of demand, each running the generic runtime shim
 * (the process tier's stem-cell mode) with an empty `/fn`. A cold start mounts the function's code
 * into the running container and sends the specialisation message, so neither crun's create path
 * nor Node's boot is on the request path.
 *
 * The code reaches the running container by mount propagation: each cell's `/fn` is a bind of a
 * host directory that is a shared mount, mounted into the container as a slave (with the rootfs
 * propagation `rslave`). At specialisation a read-only bind of the code is made in a private staging
 * directory and moved onto the shared one, so the container receives it already read-only.
 *
 * Cells are kept per memory size (the memory cgroup and the V8 heap are set at creation), run no user
 * code before specialisation, and each becomes exactly one instance.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import type { Clock } from '../../core/clock.js';
import { StemCellPool, type StemCellPolicy } from '../process/stem-cells.js';
import type { Crun } from './crun.js';

/** What the tier needs to know about a cell to make it an instance and to clean it up. */
export interface CellMeta {
  containerId: string;
  /** Host directory mounted at /fn (a shared mount). */
  cellDir: string;
  /** Private staging directory for the read-only bind of the code. */
  stageDir: string;
  configPath: string;
  /** Removes everything the cell left on the host (mounts, directories, config, container). */
  cleanup(): Promise<void>;
}

/** The pool of container cells of one container tier. */
export class ContainerCells {
  private readonly meta = new Map<ChildProcess, CellMeta>();
  private readonly pool: StemCellPool;

  /**
   * @param start creates and starts one cell container for a memory size (synchronously: the pool
   *   calls it when it refills), returning crun's process and the cell's details.
   */
  constructor(
    policy: StemCellPolicy,
    clock: Clock,
    private readonly crun: Crun,
    start: (memoryMb: number) => { child: ChildProcess; meta: CellMeta },
  ) {
    this.pool = new StemCellPool(
      policy,
      (memoryMb) => {
        const { child, meta } = start(memoryMb);
        this.meta.set(child, meta);
        // A cell that dies idle (or is killed by close) leaves its mounts and container behind.
        child.once('exit', () => {
          if (this.meta.delete(child)) void meta.cleanup();
        });
        return child;
      },
      clock,
    );
  }

  /** Takes a ready cell of `memoryMb` and mounts `codeDir` read-only at its /fn, or undefined. */
  take(memoryMb: number, codeDir: string): { child: ChildProcess; meta: CellMeta } | undefined {
    const cell = this.pool.take(memoryMb);
    if (!cell) return undefined;
    const meta = this.meta.get(cell.child)!;
    this.meta.delete(cell.child);
    // One shell for the four mounts: each command run in crun's namespace costs a process (and an
    // nsenter on hybrid-cgroup hosts), and this is on the request path.
    hostSync(this.crun, 'sh', [
      '-c',
      'mount --bind "$1" "$2" && mount -o remount,bind,ro "$2" && mount --make-private "$2" && mount --move "$2" "$3"',
      'sh',
      codeDir,
      meta.stageDir,
      meta.cellDir,
    ]);
    return { child: cell.child, meta };
  }

  /** Idle cells by memory size. */
  counts(): Record<number, { ready: number; booting: number }> {
    return this.pool.counts();
  }

  /** Resolves once the cells have booted. */
  settled(): Promise<void> {
    return this.pool.settled();
  }

  /** Kills the idle cells and removes what they left. */
  async close(): Promise<void> {
    const idle = [...this.meta.values()];
    this.meta.clear();
    this.pool.close();
    await Promise.all(idle.map((m) => m.cleanup()));
  }
}

/** Runs a short host command in crun's mount namespace, so its mounts reach the containers. */
function hostSync(crun: Crun, cmd: string, args: string[]): void {
  const { file, args: argv } = crun.host(cmd, args);
  execFileSync(file, argv, { stdio: 'ignore', timeout: 5000 });
}

/** Prepares a new cell's directories: `/fn` must be a shared mount before the container starts. */
export function prepareCellDirs(crun: Crun, cellDir: string, stageDir: string): void {
  mkdirSync(cellDir, { recursive: true });
  mkdirSync(stageDir, { recursive: true });
  hostSync(crun, 'mount', ['--bind', cellDir, cellDir]);
  hostSync(crun, 'mount', ['--make-shared', cellDir]);
}

/** Unmounts a cell's directories (the code, then the self-bind) and removes them. */
export function removeCellDirs(crun: Crun, cellDir: string, stageDir: string): void {
  for (const dir of [stageDir, cellDir, cellDir]) {
    try {
      hostSync(crun, 'umount', [dir]);
    } catch {
      // Not mounted (any more): nothing to undo.
    }
  }
  rmSync(cellDir, { recursive: true, force: true });
  rmSync(stageDir, { recursive: true, force: true });
}
