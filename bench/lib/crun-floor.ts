/**
 * The container floor: `crun run` of a static busybox `true` in a minimal OCI bundle. Needs the
 * Debian packages crun and busybox-static; without them (or when crun cannot run containers here) it
 * returns why, instead of a number.
 *
 * On hosts with a hybrid cgroup layout (v1 controllers plus a v2 hierarchy that has controllers),
 * crun refuses to start; there the measurement runs in a private mount namespace with the v2
 * hierarchy unmounted, which crun accepts (the v1 controllers stay).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUSYBOX = '/bin/busybox';

/** A script run by node (inside the namespace when needed) that times `runs` crun runs. */
const MEASURE = `
const { spawnSync } = require('node:child_process');
const [bundle, runs] = [process.argv[1], Number(process.argv[2])];
const times = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const r = spawnSync('crun', ['run', '--bundle', bundle, 'kindling-floor-' + process.pid + '-' + i], { stdio: 'ignore' });
  if (r.status !== 0) { process.stdout.write(JSON.stringify({ error: 'crun run exited with ' + r.status })); process.exit(0); }
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ p50: times[Math.floor(times.length / 2)] }));
`;

/** Median ms of `crun run` of busybox `true`, or the reason it cannot be measured here. */
export async function crunTrueFloor(work: string, runs: number): Promise<number | string> {
  if (spawnSync('crun', ['--version']).status !== 0) return 'crun is not installed (apt-get install crun)';
  if (!existsSync(BUSYBOX)) return 'busybox-static is not installed (apt-get install busybox-static)';
  const bundle = join(work, 'crun-floor');
  mkdirSync(join(bundle, 'rootfs', 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(bundle, 'rootfs', 'bin', 'busybox'));
  execFileSync('crun', ['spec'], { cwd: bundle, stdio: 'ignore' });
  const configPath = join(bundle, 'config.json');
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as {
    process: { args: string[]; terminal: boolean };
    root: { readonly: boolean };
  };
  config.process.args = ['/bin/busybox', 'true'];
  config.process.terminal = false;
  config.root.readonly = true;
  writeFileSync(configPath, JSON.stringify(config));

  const direct = spawnSync(process.execPath, ['-e', MEASURE, bundle, String(runs)], { encoding: 'utf8' });
  const parsed = parse(direct.stdout);
  if (typeof parsed === 'number') return parsed;
  const hybrid = spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      `umount /sys/fs/cgroup/unified && exec "${process.execPath}" -e "$0" "$1" "$2"`,
      MEASURE,
      bundle,
      String(runs),
    ],
    { encoding: 'utf8' },
  );
  const again = parse(hybrid.stdout);
  return typeof again === 'number' ? again : `crun could not run a container here: ${parsed}; ${again}`;
}

function parse(out: string): number | string {
  try {
    const r = JSON.parse(out) as { p50?: number; error?: string };
    return r.p50 ?? r.error ?? 'no result';
  } catch {
    return out.trim() || 'no output';
  }
}
