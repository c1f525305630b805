/**
 * How this host runs crun. Found out once per tier (`openCrun`), so a missing crun or a host that
 * cannot run containers fails the first start with KINDLING_UNAVAILABLE and the fix, not a stack trace.
 *
 * The one quirk handled here: a "hybrid" cgroup host (v1 controllers under a tmpfs /sys/fs/cgroup, plus
 * a cgroup2 mount at /sys/fs/cgroup/unified that owns a controller, e.g. hugetlb) makes crun refuse
 * every command ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"), even with
 * `--cgroup-manager=disabled`. Rather than remount the host's cgroups, the tier keeps one private mount
 * namespace (a slave of the host's, so new host mounts still appear in it) in which
 * /sys/fs/cgroup/unified is unmounted; crun then sees a plain v1 host and uses the v1 controllers.
 * Every crun command enters that namespace with `nsenter` (one extra exec, ~1 ms).
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { KindlingError } from '../../core/errors.js';

const TMPFS_MAGIC = 0x01021994;
const CGROUP2_MAGIC = 0x63677270;
const INSTALL_HINT = 'install it with `apt-get install -y crun`';

/** A ready-to-use crun on this host. */
export interface Crun {
  /** The program and leading arguments that run `crun <args>` (through nsenter on hybrid hosts). */
  command(args: string[]): { file: string; args: string[] };
  /** Runs a short crun command (kill, delete, state), bounded by `timeoutMs`. Never rejects. */
  exec(args: string[], timeoutMs?: number): Promise<{ ok: boolean; stdout: string; stderr: string }>;
  /** Ends the helper namespace holder, if any. */
  close(): void;
  /**
   * The program and arguments that run a host command (e.g. `mount`) in the mount namespace crun
   * runs in, so its mounts reach the containers.
   */
  host(cmd: string, args: string[]): { file: string; args: string[] };
}

/** Options of `openCrun`. */
export interface CrunOptions {
  /** The crun binary. */
  crunPath: string;
  /** `--root` for crun's state; undefined keeps crun's default (/run/crun). */
  stateRoot: string | undefined;
}

/** Probes crun and the cgroup layout; rejects with KINDLING_UNAVAILABLE saying what is missing. */
export async function openCrun(options: CrunOptions): Promise<Crun> {
  const unavailable = (why: string, cause?: unknown) =>
    new KindlingError('KINDLING_UNAVAILABLE', `the container tier cannot run here: ${why}`, undefined, {
      cause,
    });
  const version = await run(options.crunPath, ['--version'], 5000);
  if (!version.ok) {
    throw unavailable(
      version.missing
        ? `crun was not found at "${options.crunPath}"; ${INSTALL_HINT}`
        : `\`${options.crunPath} --version\` failed (${version.stderr.trim() || 'no output'}); reinstall crun`,
    );
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw unavailable('it runs crun as root (rootless containers are not supported); run the worker as root');
  }
  const global = ['--cgroup-manager=cgroupfs', ...(options.stateRoot ? ['--root', options.stateRoot] : [])];
  let holder: ChildProcess | undefined;
  let prefix: string[] = [];
  if (needsPrivateCgroupView()) {
    holder = await startNamespaceHolder().catch((err: unknown) => {
      throw unavailable(
        'this host mixes cgroup v1 and v2 (hybrid) with a controller on v2, which crun refuses, and the ' +
          `workaround (a private mount namespace without /sys/fs/cgroup/unified) failed: ${String(err)}; ` +
          'install util-linux (unshare, nsenter) or move every controller to v1',
        err,
      );
    });
    prefix = [`--mount=/proc/${holder.pid}/ns/mnt`, '--', options.crunPath];
  }
  const command = (args: string[]) =>
    prefix.length > 0
      ? { file: 'nsenter', args: [...prefix, ...global, ...args] }
      : { file: options.crunPath, args: [...global, ...args] };
  const crun: Crun = {
    command,
    host: (cmd, args) =>
      prefix.length > 0 ? { file: 'nsenter', args: [prefix[0]!, '--', cmd, ...args] } : { file: cmd, args },
    async exec(args, timeoutMs = 10_000) {
      const { file, args: argv } = command(args);
      const res = await run(file, argv, timeoutMs);
      return { ok: res.ok, stdout: res.stdout, stderr: res.stderr };
    },
    close() {
      holder?.kill('SIGKILL');
    },
  };
  // `crun list` reads state only: if it works, crun itself works here; the first real start then
  // reports anything the kernel refuses (namespaces, cgroups) with crun's own message.
  const list = await crun.exec(['list', '-q'], 5000);
  if (!list.ok) {
    crun.close();
    throw unavailable(`\`crun list\` failed: ${list.stderr.trim() || 'no output'}`);
  }
  return crun;
}

/** True on a hybrid host whose cgroup2 mount owns a controller (crun refuses those). */
function needsPrivateCgroupView(): boolean {
  try {
    if (statfsSync('/sys/fs/cgroup').type !== TMPFS_MAGIC) return false;
    if (statfsSync('/sys/fs/cgroup/unified').type !== CGROUP2_MAGIC) return false;
    return readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'latin1').trim() !== '';
  } catch {
    return false; // no such mount: a pure v1 or v2 host, which crun handles itself
  }
}

/**
 * A process that holds the private mount namespace. It waits on its stdin, so it ends with the host
 * even when the host is SIGKILLed (the pipe closes), and never outlives the tier.
 *
 * It runs in a process group of its own: in the host's, a terminal's Ctrl-C (SIGINT to the whole
 * foreground group) would end it at once, and every crun command of the shutdown that follows would
 * fail to enter the namespace, leaving the containers behind.
 */
function startNamespaceHolder(): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'slave',
        'sh',
        '-c',
        'umount /sys/fs/cgroup/unified && echo ready && read _',
      ],
      { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, detached: true },
    );
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error('timed out after 5 s')), 5000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    };
    child.on('error', fail);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        // The host must not wait for the holder to exit.
        child.unref();
        for (const s of [child.stdin, child.stdout, child.stderr])
          (s as unknown as { unref?: () => void }).unref?.();
        resolve(child);
      }
    });
    child.once('exit', (code) => fail(new Error(`unshare exited with code ${code}: ${err.trim()}`)));
  });
}

/** execFile with a bound; `missing` when the program does not exist. Never rejects. */
function run(
  file: string,
  args: string[],
  timeoutMs: number,
): Promise<{ ok: boolean; missing: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } },
      (err, stdout, stderr) => {
        const missing = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
        resolve({
          ok: !err,
          missing,
          stdout: String(stdout),
          stderr: String(stderr || (err?.message ?? '')),
        });
      },
    );
  });
}
