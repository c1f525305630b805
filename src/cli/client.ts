/** The CLI's HTTP client for the `/v1` API. Errors become one clear line. */
import { CliError } from './cli-error.js';
import type { Endpoint } from './endpoint.js';

/** A response the CLI looks at beyond its body. */
export interface ApiResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

export class ApiClient {
  constructor(readonly endpoint: Endpoint) {}

  /** Sends a request; non-2xx answers throw a CliError carrying the server's code and message. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    opts: { raw?: string; allowError?: boolean } = {},
  ): Promise<ApiResponse<T>> {
    if (!this.endpoint.key) {
      throw new CliError(
        `no API key: set KINDLING_API_KEY, or run the CLI next to the data directory of \`kindling up\` (looked for ${this.endpoint.keySource})`,
        'KINDLING_UNAUTHORIZED',
      );
    }
    let res: Response;
    try {
      res = await fetch(this.endpoint.url + path, {
        method,
        headers: {
          authorization: `Bearer ${this.endpoint.key}`,
          ...(body !== undefined || opts.raw !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(opts.raw !== undefined
          ? { body: opts.raw }
          : body !== undefined
            ? { body: JSON.stringify(body) }
            : {}),
      });
    } catch (err) {
      throw new CliError(
        `cannot reach Kindling at ${this.endpoint.url} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}); start it with \`kindling up\` or set KINDLING_URL`,
        'KINDLING_UNREACHABLE',
      );
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // Not JSON (e.g. a plain-text result): keep the text.
      parsed = text;
    }
    if (!res.ok && !opts.allowError) {
      const err = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
      // An answer without Kindling's error body (a proxy's, say) still gets a code by its status class.
      throw new CliError(
        err?.message ?? `${res.status} ${res.statusText}`,
        err?.code ?? (res.status >= 500 ? 'KINDLING_INTERNAL' : 'KINDLING_BAD_REQUEST'),
      );
    }
    return { status: res.status, headers: res.headers, body: parsed as T };
  }
}
