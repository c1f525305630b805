/**
 * Link latency for the netns test cluster on kernels without the netem qdisc: a link becomes two
 * TAP devices, one in the host's namespace and one in the bridge's, joined by a small forwarder
 * process (`native/delay-line.c`) that passes every frame to the other end after the link's delay.
 * tc shapes each TAP's egress as it would a veth's, so a link keeps its rate and fair queues and
 * gains the delay after them, where netem would add it in each leaf.
 *
 * The forwarder is C, compiled here on first use with the machine's `cc` into `<dataDir>/bin`
 * (named by the source's digest, so an edited source is rebuilt): it moves a frame per system call
 * pair, which Node cannot do without an addon (no ioctl for TUNSETIFF). It dies with its parent
 * (PR_SET_PDEATHSIG), and it lives in the bridge's namespace, so `netnsClusterDown` finds and kills
 * it with the namespace's other processes after a crash.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KindlingError } from '../core/errors.js';

const SOURCE = fileURLToPath(new URL('../../../native/delay-line.c', import.meta.url));
const READY_TIMEOUT_MS = 10_000;

/** One end of a link: a device name in a named network namespace. */
export interface LinkEnd {
  ns: string;
  device: string;
}

/**
 * The forwarder's executable, compiled into `<dataDir>/bin` unless it is there already.
 * Throws `KINDLING_UNAVAILABLE` saying what to install when there is no C compiler.
 */
export function delayLineProgram(dataDir: string): string {
  const source = readFileSync(SOURCE);
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(dataDir, 'bin');
  const program = join(dir, `delay-line-${digest}`);
  if (existsSync(program)) return program;
  mkdirSync(dir, { recursive: true });
  const building = `${program}.${process.pid}.tmp`;
  try {
    execFileSync('cc', ['-O2', '-o', building, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer };
    throw new KindlingError(
      'KINDLING_UNAVAILABLE',
      e.code === 'ENOENT'
        ? 'no C compiler (cc) to build the delay line: apt-get install gcc'
        : `cc could not build ${SOURCE}: ${e.stderr?.toString().trim() || String(err)}`,
    );
  }
  renameSync(building, program);
  return program;
}

/**
 * Creates the link `a` ↔ `b` as two TAP devices with `delayMs` one way in each direction, and
 * resolves with the forwarder once both devices exist (down and without addresses, as a new veth).
 */
export async function startDelayLine(
  program: string,
  a: LinkEnd,
  b: LinkEnd,
  delayMs: number,
): Promise<ChildProcess> {
  const delayUs = String(Math.round(delayMs * 1000));
  // The bridge's end last: the forwarder stays in the namespace it entered last.
  const child = spawn(program, [`/run/netns/${a.ns}`, a.device, `/run/netns/${b.ns}`, b.device, delayUs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(
        new KindlingError(
          'KINDLING_UNAVAILABLE',
          `delay line ${a.ns}/${a.device} ↔ ${b.ns}/${b.device}: ${stderr.trim() || why}`,
        ),
      );
    };
    const timer = setTimeout(() => fail(`not ready after ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? `code ${code}`}) before it was ready`));
    child.stdout!.once('data', (chunk: Buffer) => {
      if (!chunk.toString().startsWith('ready')) return fail(`said ${JSON.stringify(chunk.toString())}`);
      clearTimeout(timer);
      child.removeAllListeners('exit');
      resolve();
    });
  });
  return child;
}
