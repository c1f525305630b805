/**
 * The dashboard's client for the Kindling API: every call carries the signed-in API key. The record
 * types below are the client's model of the API's JSON, kept apart from src/control's (whose imports
 * would bring Node's types into the browser build).
 */

import type { Phases } from '../../core/phases';

export { PHASES, PHASE_DESCRIPTIONS, type Phase, type Phases } from '../../core/phases';

export interface FunctionConfig {
  memoryMb: number;
  timeoutMs: number;
  concurrency: number;
  maxInstances: number;
  maxQueue: number;
  minWarm: number;
  keepAliveMs: number;
  keepAlivePolicy?: string;
  tier: string;
  network: boolean;
  public?: boolean;
  /** Cron expressions (UTC) of its scheduled triggers. */
  schedule?: string[];
  env: Record<string, string>;
  [key: string]: unknown;
}

export interface FunctionSummary {
  tenant: string;
  name: string;
  createdAt: number;
  latestVersion: number;
  aliases: Record<string, number>;
  config: FunctionConfig;
}

export interface FunctionVersion {
  tenant: string;
  name: string;
  version: number;
  imageDigest: string;
  entry: string;
  config: FunctionConfig;
  createdAt: number;
}

export interface LogLine {
  level: string;
  msg: string;
  t?: number;
  [key: string]: unknown;
}

export interface InvocationRecord {
  id: string;
  tenant: string;
  functionName: string;
  version: number;
  mode: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  result?: unknown;
  resultBytes?: number;
  error?: { code: string; message: string; details?: Record<string, unknown> };
  logs: LogLine[];
  logsDroppedBytes: number;
  cold?: boolean;
  tier?: string;
  startPath?: string;
  instanceId?: string;
  phases?: Phases;
  totalMs?: number;
  fetch?: { bytesFromSource: number; bytesFromCache: number; source: string };
  createdAt: number;
  finishedAt?: number;
}

export interface Principal {
  tenant: string;
  role: 'admin' | 'tenant';
}

/** An error the API answered with (or a network failure, code KINDLING_NETWORK). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A response with its headers (the invoke route explains itself in headers). */
export interface ApiReply<T> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the API with `key`; throws ApiError for any non-2xx answer. */
export async function request<T>(
  key: string,
  method: string,
  path: string,
  body?: string,
): Promise<ApiReply<T>> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    });
  } catch (err) {
    throw new ApiError(
      0,
      'KINDLING_NETWORK',
      `cannot reach the platform (${(err as Error).message}); is \`kindling up\` running?`,
    );
  }
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok) {
    const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `HTTP ${res.status}`);
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

/** `?tenant=…` for an admin looking at another tenant's function, else ''. */
export function tenantQuery(principal: Principal, tenant: string | undefined, first = true): string {
  if (!tenant || tenant === principal.tenant) return '';
  return `${first ? '?' : '&'}tenant=${encodeURIComponent(tenant)}`;
}
