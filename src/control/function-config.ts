/**
 * A function version's configuration: limits, scaling and environment. Validated at the boundary
 * (deploy API, kindling.json); defaults follow what users know from AWS Lambda where it makes sense.
 */
import { z } from 'zod';
import { parseOrThrow } from '../core/validate.js';
import { POLICY_NAMES } from '../policy/catalog.js';
import { cronProblem } from './cron.js';

export const DEFAULT_FUNCTION_CONFIG = {
  memoryMb: 128,
  timeoutMs: 10_000,
  concurrency: 1,
  maxInstances: 10,
  minWarm: 0,
  keepAliveMs: 10 * 60_000,
  maxQueue: 100,
  tier: 'process',
} as const;

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_SCHEDULES = 10;
const MAX_ENV_BYTES = 4096;

export const functionConfigSchema = z
  .object({
    description: z.string().max(256, 'at most 256 characters').optional(),
    memoryMb: z
      .number()
      .int('must be a whole number of MiB')
      .min(64, 'must be at least 64 MiB (a Node.js runtime needs about 40 MiB)')
      .max(8192, 'must be at most 8192 MiB')
      .default(DEFAULT_FUNCTION_CONFIG.memoryMb),
    timeoutMs: z
      .number()
      .int('must be a whole number of milliseconds')
      .min(100, 'must be at least 100 ms')
      .max(900_000, 'must be at most 900000 ms (15 minutes)')
      .default(DEFAULT_FUNCTION_CONFIG.timeoutMs),
    concurrency: z
      .number()
      .int()
      .min(1, 'must be at least 1')
      .max(1000, 'must be at most 1000')
      .default(DEFAULT_FUNCTION_CONFIG.concurrency),
    maxInstances: z
      .number()
      .int()
      .min(1, 'must be at least 1')
      .max(1000, 'must be at most 1000')
      .default(DEFAULT_FUNCTION_CONFIG.maxInstances),
    minWarm: z.number().int().min(0, 'must be 0 or more').max(100, 'must be at most 100').default(0),
    keepAliveMs: z
      .number()
      .int()
      .min(0, 'must be 0 or more')
      .max(86_400_000, 'must be at most 86400000 ms (one day)')
      .default(DEFAULT_FUNCTION_CONFIG.keepAliveMs),
    maxQueue: z.number().int().min(0, 'must be 0 or more').max(10_000, 'must be at most 10000').default(100),
    tier: z
      .enum(['process', 'isolate', 'container'], { message: 'must be "process", "isolate" or "container"' })
      .default('process'),
    network: z.boolean({ message: 'must be true or false' }).default(false),
    /**
     * Whether the function's HTTP trigger answers without an API key, at
     * `/pub/{tenant}/{name}/*` (like a Lambda function URL with auth type NONE).
     */
    public: z.boolean({ message: 'must be true or false' }).default(false),
    /**
     * Requests per second the public URL accepts (a burst of one second's worth); beyond, 429 with
     * Retry-After. Absent: only maxInstances and maxQueue bound it.
     */
    publicRateLimit: z
      .number()
      .positive()
      .max(100_000, 'must be at most 100000 requests per second')
      .optional(),
    /** Cluster mode: how the image reaches hosts (default: the cluster's `--distribution`). */
    distribution: z
      .enum(['registry', 'swarm', 'tree'], { message: 'must be "registry", "swarm" or "tree"' })
      .optional(),
    /**
     * Scheduled triggers: cron expressions (UTC) at which the latest version is invoked
     * asynchronously with `{ type: "schedule", cron, scheduledTime }` (see `cron-triggers.ts`).
     */
    schedule: z
      .union([z.string(), z.array(z.string()).min(1, 'must not be empty').max(MAX_SCHEDULES)], {
        message: `must be a cron expression or an array of at most ${MAX_SCHEDULES}`,
      })
      .superRefine((value, ctx) => {
        for (const [i, expression] of (Array.isArray(value) ? value : [value]).entries()) {
          const problem = cronProblem(expression);
          if (problem)
            ctx.addIssue({ code: 'custom', message: problem, path: Array.isArray(value) ? [i] : [] });
        }
      })
      .transform((value) => (Array.isArray(value) ? value.map((e) => e.trim()) : [value.trim()]))
      .optional(),
    keepAlivePolicy: z
      .enum(POLICY_NAMES, { message: `must be one of ${POLICY_NAMES.join(', ')}` })
      .optional(),
    env: z
      .record(z.string(), z.string())
      .default({})
      .superRefine((env, ctx) => {
        for (const key of Object.keys(env))
          if (!ENV_KEY.test(key))
            ctx.addIssue({
              code: 'custom',
              message: `has an invalid variable name ${JSON.stringify(key)}: use letters, digits and _, not starting with a digit`,
            });
      })
      .refine(
        (env) => Buffer.byteLength(JSON.stringify(env)) <= MAX_ENV_BYTES,
        `environment variables must total at most ${MAX_ENV_BYTES} bytes`,
      ),
  })
  .strict()
  .superRefine((c, ctx) => {
    // Only between two valid numbers (an invalid maxInstances is reported on its own).
    if (Number.isInteger(c.maxInstances) && c.maxInstances >= 1 && c.minWarm > c.maxInstances)
      ctx.addIssue({
        code: 'custom',
        message: `must not exceed maxInstances (${c.maxInstances})`,
        path: ['minWarm'],
      });
  });

/** A validated configuration, every field present. */
export type FunctionConfig = z.output<typeof functionConfigSchema>;

/** Validates a user-supplied configuration (partial; defaults fill the rest). Throws KINDLING_INVALID_CONFIG. */
export function parseFunctionConfig(input: unknown): FunctionConfig {
  return parseOrThrow(functionConfigSchema, input ?? {}, 'function configuration', 'KINDLING_INVALID_CONFIG');
}
