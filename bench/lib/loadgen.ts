/**
 * A closed-loop HTTP load generator: `concurrency` keep-alive connections, each sending the next
 * request as soon as the previous answer arrives, for a fixed time or request count. Bounded in both,
 * and only ever aimed at loopback servers the benchmark started itself.
 */
import { Agent, request } from 'node:http';

export interface LoadOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  concurrency: number;
  durationMs: number;
  /** Hard cap on requests, whatever the duration. */
  maxRequests: number;
}

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  /** Latency of each successful request, ms, in completion order. */
  latencies: number[];
  durationMs: number;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const url = new URL(opts.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
    throw new Error(`refusing to load a non-loopback address: ${url.hostname}`);
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const headers = {
    ...(opts.headers ?? {}),
    ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
  };
  const latencies: number[] = [];
  let errors = 0;
  let sent = 0;
  const start = performance.now();
  const deadline = start + opts.durationMs;

  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: opts.method ?? 'POST',
          headers,
          agent,
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(performance.now() - t0);
            else errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });

  const loop = async () => {
    while (performance.now() < deadline && sent < opts.maxRequests) {
      sent++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, loop));
  const durationMs = performance.now() - start;
  agent.destroy();
  return { requests: sent, errors, rps: (latencies.length / durationMs) * 1000, latencies, durationMs };
}
