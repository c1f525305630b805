/**
 * The wire between the control plane and worker processes, as zod schemas (validated on both sides:
 * a worker is another process, possibly another version, and never trusted blindly).
 *
 * Control plane → worker (`/v1/worker/*` on the worker, the cluster key as bearer):
 * - `POST /v1/worker/invoke` `{target, requestId, event}` → a {@link WireWorkerResult}
 * - `POST /v1/worker/keep-warm` `{target}` → 202
 * - `POST /v1/worker/drop` `{tenant, name}` → 204
 * - `GET /v1/worker/instances?tenant=&name=` → `{instances: VersionInstances[]}`
 *
 * Image distribution has its own routes (`/v1/cluster/distribution/*` on the control plane,
 * `/v1/peer/blobs/:digest` on workers; see `src/distribution/`).
 *
 * Worker → control plane (`/v1/cluster/*`, an admin key):
 * - `POST /v1/cluster/workers` {@link RegisterBody} → `{heartbeatMs, peers}`
 * - `PUT /v1/cluster/workers/:id/heartbeat` {@link HeartbeatBody} → `{peers}` (host id → worker URL,
 *   the peer address book for image distribution), or 404 when the control plane
 *   forgot the worker (it restarted, or declared the worker dead): the worker registers again.
 */
import { z } from 'zod';
import { KindlingError } from '../core/errors.js';
import type { WorkerResult } from '../worker/agent.js';

/** Host ids: DNS-label-like, so they read well in logs, metrics and namespace names. */
export const hostIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 lowercase letters, digits or dashes, like host-1');

const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

export const registerBody = z.object({
  hostId: hostIdSchema,
  /** Where the control plane reaches the worker (its `/v1/worker` API and peer blob server). */
  url: httpUrl,
  /** Memory the host offers to instances, MiB. */
  memoryMb: z.number().int().positive(),
  tiers: z.array(z.string()).max(16),
});
export type RegisterBody = z.infer<typeof registerBody>;

const instanceCount = z.object({
  tier: z.string(),
  state: z.enum(['starting', 'idle', 'busy', 'evicting']),
  count: z.number().int().nonnegative(),
});

export const heartbeatBody = z.object({
  instances: z.array(instanceCount).max(256),
  /** Digests of the images held on the host. */
  images: z.array(z.string()).max(100_000),
  /** Keys (`tenant/name@version`) of the versions with instances on the host. */
  versions: z.array(z.string()).max(100_000),
  inFlight: z.number().int().nonnegative(),
  /** Instance counts per warm pool (for the dashboard and the per-tenant views). */
  pools: z
    .array(
      z.object({
        tenant: z.string(),
        name: z.string(),
        version: z.number().int(),
        tier: z.string(),
        counts: z.object({
          starting: z.number().int().nonnegative(),
          idle: z.number().int().nonnegative(),
          busy: z.number().int().nonnegative(),
          evicting: z.number().int().nonnegative(),
        }),
      }),
    )
    .max(100_000)
    .default([]),
  /** The host's memory, bytes. */
  memory: z.object({ totalBytes: z.number(), freeBytes: z.number(), workerRssBytes: z.number() }).optional(),
});
export type HeartbeatBody = z.infer<typeof heartbeatBody>;

/** A function version as the control plane sends it; the config was validated at deploy. */
export const targetSchema = z.object({
  tenant: z.string().min(1),
  name: z.string().min(1),
  version: z.number().int().positive(),
  imageRepo: z.string().min(1),
  imageDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  entry: z.string().min(1),
  config: z
    .object({
      memoryMb: z.number(),
      timeoutMs: z.number(),
      concurrency: z.number(),
      maxInstances: z.number(),
      minWarm: z.number(),
      tier: z.enum(['process', 'isolate', 'container']),
    })
    .passthrough(),
  createdAt: z.number(),
});

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

export const invokeBody = z.object({
  target: targetSchema,
  requestId: z.string().min(1).max(64),
  event: z.unknown(),
  /** The image's startup working set, when lazy loading is on and a first cold start recorded it. */
  workingSet: z.array(digest).max(100_000).optional(),
});

/** A worker reports the startup working set it recorded (`PUT /v1/cluster/working-sets`). */
export const workingSetBody = z.object({
  repository: z.string().min(1),
  digest,
  blocks: z.array(digest).min(1).max(100_000),
});
export type WorkingSetBody = z.infer<typeof workingSetBody>;

export const keepWarmBody = z.object({ target: targetSchema });
export const prewarmBody = z.object({
  target: targetSchema,
  holdMs: z.number().int().min(0).max(3_600_000),
  /** As with an invocation: the image's startup working set, when lazy loading knows it. */
  workingSet: z.array(digest).max(100_000).optional(),
});
export const dropBody = z.object({ tenant: z.string().min(1), name: z.string().min(1) });

/** `POST /v1/worker/gc`: what the registry's collection found live (see `worker/host-gc.ts`). */
export const gcBody = z.object({
  liveImages: z.array(z.string()).max(1_000_000),
  liveBlobs: z.array(z.string()).max(10_000_000),
  graceMs: z.number().int().min(0),
  now: z.number(),
  dryRun: z.boolean(),
});
/** Room for the live blobs of a large registry (about 70 bytes each). */
export const GC_BODY_LIMIT_BYTES = 256 * 1024 * 1024;

/** A {@link WorkerResult} on the wire: a failed outcome's error travels as its JSON body. */
export type WireWorkerResult = Omit<WorkerResult, 'outcome'> & {
  outcome:
    | Extract<WorkerResult['outcome'], { ok: true }>
    | (Omit<Extract<WorkerResult['outcome'], { ok: false }>, 'error'> & {
        error: { code: string; message: string; details?: Record<string, unknown> };
      });
};

export function encodeWorkerResult(r: WorkerResult): WireWorkerResult {
  if (r.outcome.ok) return r as WireWorkerResult;
  return { ...r, outcome: { ...r.outcome, error: r.outcome.error.toJSON().error } };
}

export function decodeWorkerResult(w: WireWorkerResult): WorkerResult {
  if (w.outcome.ok) return w as WorkerResult;
  return { ...w, outcome: { ...w.outcome, error: KindlingError.fromJSON(w.outcome.error) } };
}
