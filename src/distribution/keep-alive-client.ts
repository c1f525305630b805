/**
 * The HTTP client of a worker's data path: blocks from the registry and peers, and the control
 * plane's distribution calls (a `sources` and a `stored` call per block or batch of blocks). Node's
 * own `http` module over keep-alive connections, not the global `fetch`: measured on a 100 Mbit/s
 * test-cluster link (`npm run bench:cpu`), fetch's WHATWG streams and per-request machinery cost a
 * worker more CPU per block than moving the block's bytes did.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** One request. */
export interface KeepAliveRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** Requests over connections kept open between requests; see the module comment. */
export class KeepAliveClient {
  private readonly httpAgent = new HttpAgent({ keepAlive: true });
  private readonly httpsAgent = new HttpsAgent({ keepAlive: true });

  /**
   * Sends the request; resolves with the response once its head has arrived (the body is the
   * caller's to read or discard). A connection the server closed while it sat idle fails on reuse
   * with ECONNRESET before the server saw the request, so the request is sent once more on a new
   * connection. Rejects with the network error, or `signal`'s reason when it fires.
   */
  open(url: URL, init: KeepAliveRequest = {}): Promise<IncomingMessage> {
    const https = url.protocol === 'https:';
    const send = (retry: boolean): Promise<IncomingMessage> =>
      new Promise((resolve, reject) => {
        const headers = { ...init.headers };
        if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
        const req = (https ? httpsRequest : httpRequest)(url, {
          method: init.method ?? 'GET',
          headers,
          agent: https ? this.httpsAgent : this.httpAgent,
          ...(init.signal ? { signal: init.signal } : {}),
        });
        req.once('response', resolve);
        req.once('error', (err: NodeJS.ErrnoException) => {
          if (init.signal?.aborted) reject(init.signal.reason);
          else if (retry && req.reusedSocket && err.code === 'ECONNRESET') resolve(send(false));
          else reject(err);
        });
        req.end(init.body);
      });
    return send(true);
  }

  /** Sends the request and reads the whole answer as text (at most `limitBytes`, default 64 MiB). */
  async text(url: URL, init: KeepAliveRequest = {}, limitBytes = 64 * 1024 * 1024) {
    const res = await this.open(url, init);
    const body = await readBody(res, {
      limitBytes,
      onTooLarge: () => new Error(`the answer is larger than ${limitBytes} bytes`),
      onBrokenOff: (err) => err,
    });
    return { status: res.statusCode ?? 0, text: body.toString('utf8') };
  }

  /** Closes the idle connections (busy ones close when their response ends). */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * The whole body of `res`. Past `limitBytes` the connection is closed and `onTooLarge`'s error is
 * thrown; `beforeMore` (a rate limiter) is awaited after each piece with the stream paused.
 */
export function readBody(
  res: IncomingMessage,
  opts: {
    limitBytes: number;
    onTooLarge: () => Error;
    onBrokenOff: (err: Error, received: number) => Error;
    beforeMore?: (bytes: number) => Promise<void>;
  },
): Promise<Buffer> {
  if (Number(res.headers['content-length']) > opts.limitBytes) {
    res.destroy();
    return Promise.reject(opts.onTooLarge());
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      res.destroy();
      reject(err);
    };
    res.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > opts.limitBytes) return fail(opts.onTooLarge());
      chunks.push(chunk);
      if (!opts.beforeMore) return;
      res.pause();
      opts.beforeMore(chunk.length).then(
        () => res.resume(),
        (err: unknown) => fail(err as Error),
      );
    });
    res.once('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    });
    res.once('error', (err) => fail(opts.onBrokenOff(err, total)));
    res.once('close', () =>
      fail(opts.onBrokenOff(new Error('the connection closed before the body ended'), total)),
    );
  });
}
