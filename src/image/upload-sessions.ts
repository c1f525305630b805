/**
 * Chunked blob uploads of the OCI API (`POST` to open, `PATCH` to append, `PUT ?digest=` to close),
 * held in memory: blobs are blocks and manifests, a few MiB at most.
 */
import { randomUUID } from 'node:crypto';
import { KindlingError } from '../core/errors.js';

interface Session {
  name: string;
  chunks: Buffer[];
  size: number;
}

/** Limits of {@link UploadSessions}. */
export interface UploadSessionLimits {
  /** Largest blob accepted through a session, in bytes. */
  maxBytes: number;
  /** Open sessions kept; opening one more drops the oldest (clients that vanish leak nothing). */
  maxSessions: number;
}

/** Open upload sessions, by id. */
export class UploadSessions {
  private readonly sessions = new Map<string, Session>();

  /** Sessions bounded by `limits`. */
  constructor(private readonly limits: UploadSessionLimits) {}

  /** Opens a session for repository `name` and returns its id. */
  open(name: string): string {
    while (this.sessions.size >= this.limits.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const id = randomUUID();
    this.sessions.set(id, { name, chunks: [], size: 0 });
    return id;
  }

  /**
   * Appends `bytes` and returns the session's size. Rejects with KINDLING_NOT_FOUND
   * (details.ociCode BLOB_UPLOAD_UNKNOWN) for an unknown session or one of another repository, and
   * KINDLING_PAYLOAD_TOO_LARGE past `maxBytes`.
   */
  append(name: string, id: string, bytes: Buffer | undefined): number {
    const s = this.get(name, id);
    if (bytes && bytes.length > 0) {
      if (s.size + bytes.length > this.limits.maxBytes) {
        this.sessions.delete(id);
        throw new KindlingError(
          'KINDLING_PAYLOAD_TOO_LARGE',
          `upload ${id} would exceed ${this.limits.maxBytes} bytes; blobs are blocks of an image and never that large`,
          {
            limit: this.limits.maxBytes,
          },
        );
      }
      s.chunks.push(bytes);
      s.size += bytes.length;
    }
    return s.size;
  }

  /** Size so far of an open session (same rejections as {@link append}). */
  size(name: string, id: string): number {
    return this.get(name, id).size;
  }

  /** Closes a session and returns its bytes (same rejections as {@link append}). */
  take(name: string, id: string): Buffer {
    const s = this.get(name, id);
    this.sessions.delete(id);
    return Buffer.concat(s.chunks, s.size);
  }

  /** Cancels a session (same rejections as {@link append}). */
  cancel(name: string, id: string): void {
    this.get(name, id);
    this.sessions.delete(id);
  }

  private get(name: string, id: string): Session {
    const s = this.sessions.get(id);
    if (!s || s.name !== name) {
      throw new KindlingError(
        'KINDLING_NOT_FOUND',
        `no upload ${id} open for ${name}; start one with POST /v2/${name}/blobs/uploads/`,
        {
          ociCode: 'BLOB_UPLOAD_UNKNOWN',
          id,
        },
      );
    }
    return s;
  }
}
