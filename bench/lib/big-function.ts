/**
 * The cluster benchmark's function (`npm run bench:dist`): a large node_modules of incompressible
 * data files, like the binaries and assets that make real node_modules big. At start it reads one
 * of them, `startup.bin`, 1/16 of the image (close to the 6.4% of an image that Slacker found read
 * at container start); the rest is never read. `npm run bench:sandbox` starts the same code with the
 * same startup file, so the simulator's calibration can take this function's own start cost.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;

/** The function's code: CommonJS, reads its startup file at top level. */
export const BIG_FUNCTION_SOURCE = [
  "const { readFileSync } = require('node:fs');",
  "const startup = readFileSync(__dirname + '/node_modules/big-assets/startup.bin');",
  'exports.handler = async () => ({ ok: true, startupBytes: startup.length });',
  '',
].join('\n');

/**
 * Writes the function's entry `entry` and its startup file into `dir`; with `restMiB`, the rest of
 * its node_modules too (8 MiB files).
 */
export function writeBigFunction(
  dir: string,
  o: { entry: string; startupMiB: number; restMiB?: number },
): void {
  const assets = join(dir, 'node_modules', 'big-assets');
  mkdirSync(assets, { recursive: true });
  writeFileSync(join(dir, o.entry), BIG_FUNCTION_SOURCE);
  writeFileSync(join(assets, 'startup.bin'), randomBytes(o.startupMiB * MiB));
  const rest = o.restMiB ?? 0;
  if (rest <= 0) return;
  const files = Math.max(1, Math.round(rest / 8));
  for (let i = 0; i < files; i++)
    writeFileSync(join(assets, `chunk-${i}.bin`), randomBytes(Math.floor((rest * MiB) / files)));
}
