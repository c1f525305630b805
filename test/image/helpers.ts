/**
 * Shared pieces of the image tests: temp directories, seeded bytes, file trees.
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decompressBlock } from '../../src/image/block-codec.js';
import type { Digest, ImageManifest } from '../../src/image/manifest.js';

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'kindling-image-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * `length` pseudo-random bytes, the same for the same seed (sha256 in counter mode): incompressible
 * like real binaries, yet reproducible so dedup tests can assert exact block reuse.
 */
export function seededBytes(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0, at = 0; at < length; i++) {
    const h = createHash('sha256').update(`${seed}:${i}`).digest();
    at += h.copy(out, at);
  }
  return out;
}

/** Writes `files` (path → contents, or [contents, mode]) under `root`. */
export function writeTree(
  root: string,
  files: Record<string, string | Buffer | [string | Buffer, number]>,
): void {
  for (const [path, value] of Object.entries(files)) {
    const abs = join(root, path);
    mkdirSync(dirname(abs), { recursive: true });
    const [content, mode] = Array.isArray(value) ? value : [value, undefined];
    writeFileSync(abs, content);
    if (mode !== undefined) chmodSync(abs, mode);
  }
}

/** Reads one file out of a built image by decompressing its layer's blocks (no registry involved). */
export async function readBuiltFile(
  built: { manifest: ImageManifest; blocks: ReadonlyMap<Digest, Buffer> },
  path: string,
): Promise<Buffer> {
  const file = built.manifest.files.find((f) => f.path === path);
  if (!file) throw new Error(`${path} is not in the image`);
  const layer = built.manifest.layers[file.layer];
  if (!layer) throw new Error(`layer ${file.layer} missing`);
  const parts = await Promise.all(
    layer.blocks.map((b) => decompressBlock(built.blocks.get(b.digest) ?? Buffer.alloc(0), b.size, b.digest)),
  );
  return Buffer.concat(parts).subarray(file.offset, file.offset + file.size);
}
