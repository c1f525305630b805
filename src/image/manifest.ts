/**
 * The image format: a function's files laid out in layers, each cut into fixed-size blocks that are
 * compressed on their own and addressed by sha256, plus a manifest that lists them.
 */
import { z } from 'zod';

/** Block size, as FaaSNet and Lambda use. */
export const BLOCK_SIZE = 512 * 1024;

export const MANIFEST_MEDIA_TYPE = 'application/vnd.kindling.image.manifest.v1+json';
export const BLOCK_MEDIA_TYPE = 'application/vnd.kindling.block.v1+gzip';

/** `sha256:` followed by 64 lowercase hex digits. */
export const digestSchema = z
  .string()
  .regex(/^sha256:[a-f0-9]{64}$/, 'expected a digest like sha256:<64 hex digits>');
export type Digest = z.infer<typeof digestSchema>;

export const blockSchema = z.object({
  /** Digest of the compressed bytes (the blob as stored and served). */
  digest: digestSchema,
  /** Offset of the block's first uncompressed byte in its layer. */
  offset: z.number().int().nonnegative(),
  /** Uncompressed size (BLOCK_SIZE except for the last block of a layer). */
  size: z.number().int().positive(),
  compressedSize: z.number().int().positive(),
});
export type Block = z.infer<typeof blockSchema>;

export const layerSchema = z.object({
  /** Uncompressed size of the layer. */
  size: z.number().int().nonnegative(),
  blocks: z.array(blockSchema),
});
export type Layer = z.infer<typeof layerSchema>;

export const fileEntrySchema = z.object({
  /** POSIX path relative to the image root, no `..` segments. */
  path: z
    .string()
    .min(1)
    .refine(
      (p) => !p.startsWith('/') && !p.split('/').includes('..'),
      'file paths must be relative, without ..',
    ),
  layer: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  size: z.number().int().nonnegative(),
  /** Unix permission bits. */
  mode: z.number().int().nonnegative(),
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

export const manifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MANIFEST_MEDIA_TYPE),
  blockSize: z.number().int().positive(),
  layers: z.array(layerSchema),
  files: z.array(fileEntrySchema),
  /** Entry module, relative to the image root. */
  entry: z.string().min(1),
  /** Block digests read while the function first initialised, once known. */
  startupWorkingSet: z.array(digestSchema).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ImageManifest = z.infer<typeof manifestSchema>;
