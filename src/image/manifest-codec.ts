/**
 * Parsing and encoding of manifests at the boundary (registry uploads, downloads from a registry or
 * a peer). The zod schema checks shapes; the checks here add what a schema cannot express and what
 * materialisation relies on: blocks tile their layer, files stay inside it, paths are safe.
 */
import { KindlingError } from '../core/errors.js';
import { manifestSchema, type ImageManifest } from './manifest.js';

/** The canonical bytes of a manifest. Key order is the object's, which the builder fixes. */
export function encodeManifest(manifest: ImageManifest): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
}

/**
 * Parses manifest bytes. Rejects with KINDLING_BAD_REQUEST naming the field that is wrong, e.g.
 * `layers[0].blocks[3].digest: expected a digest like sha256:<64 hex digits>`.
 */
export function parseManifest(bytes: Uint8Array | string): ImageManifest {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw invalid(`manifest is not valid JSON: ${(err as Error).message}`);
  }
  return validateManifest(value);
}

/** Validates an already-parsed manifest; see {@link parseManifest}. */
export function validateManifest(value: unknown): ImageManifest {
  const parsed = manifestSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`);
    throw invalid(`manifest is invalid: ${problems.slice(0, 10).join('; ')}`, { problems });
  }
  checkConsistency(parsed.data);
  return parsed.data;
}

function checkConsistency(m: ImageManifest): void {
  m.layers.forEach((layer, li) => {
    let next = 0;
    layer.blocks.forEach((block, bi) => {
      const at = `layers[${li}].blocks[${bi}]`;
      if (block.offset !== next)
        throw invalid(
          `${at}.offset is ${block.offset}, expected ${next} (blocks must tile the layer in order)`,
        );
      if (block.size > m.blockSize)
        throw invalid(`${at}.size is ${block.size}, larger than blockSize ${m.blockSize}`);
      next += block.size;
    });
    if (next !== layer.size)
      throw invalid(`layers[${li}].size is ${layer.size} but its blocks cover ${next} bytes`);
  });
  const paths = new Set<string>();
  m.files.forEach((file, fi) => {
    const at = `files[${fi}] (${file.path})`;
    const layer = m.layers[file.layer];
    if (!layer) throw invalid(`${at}.layer is ${file.layer}, but the manifest has ${m.layers.length} layers`);
    if (file.offset + file.size > layer.size) {
      throw invalid(
        `${at} ends at ${file.offset + file.size}, past the end of layer ${file.layer} (${layer.size} bytes)`,
      );
    }
    if (
      file.path.split('/').some((seg) => seg === '' || seg === '.') ||
      file.path.includes('\\') ||
      file.path.includes('\0')
    ) {
      throw invalid(
        `${at}.path must be a normalised relative POSIX path (no empty or "." segments, no backslashes)`,
      );
    }
    if (paths.has(file.path)) throw invalid(`${at}.path appears twice`);
    paths.add(file.path);
  });
  // A path that is both a file and a directory ("a" and "a/b") cannot be written to disk.
  for (const p of paths) {
    const segs = p.split('/');
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join('/');
      if (paths.has(dir)) throw invalid(`files: "${dir}" is a file but "${p}" needs it to be a directory`);
    }
  }
  if (!paths.has(m.entry)) throw invalid(`entry "${m.entry}" is not one of the manifest's files`);
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function invalid(message: string, details?: Record<string, unknown>): KindlingError {
  // There is no MANIFEST_INVALID code yet; the OCI routes map this code, raised here, to MANIFEST_INVALID.
  return new KindlingError('KINDLING_BAD_REQUEST', message, { reason: 'manifest-invalid', ...details });
}
