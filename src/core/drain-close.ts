/**
 * Closing an HTTP server completely. Node's `server.close()` waits for every connection to end; it
 * closes the idle keep-alive ones, but not a connection that never sent a request: a browser's
 * preconnect, a client that stalled, a peer that connected while this process was stopped. Node
 * waits on such a connection until its headers timeout, or forever where the server has none, so a
 * platform told to stop (SIGTERM) would not. Closing here stops accepting, lets every request in
 * progress be answered (an invocation runs to its end, as before), then destroys what is left.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';

/**
 * Starts counting `app`'s requests in progress (every request its server receives, whether fastify
 * or a handler in front of it answers) and returns the function that closes the app completely.
 * Call it before the server listens.
 */
export function drainingClose(app: FastifyInstance): () => Promise<void> {
  const server: Server = app.server;
  let open = 0;
  let drained: (() => void) | undefined;
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    open++;
    // 'close' comes once the response is sent or the connection is gone, whichever is first.
    res.once('close', () => {
      if (--open === 0) drained?.();
    });
  });
  return async () => {
    let settled = false;
    const closing = app.close().finally(() => (settled = true));
    // fastify stops the server after its preClose hooks: from then on no connection is accepted.
    while (server.listening && !settled) await sleep(5);
    if (open > 0) await new Promise<void>((resolve) => (drained = resolve));
    server.closeAllConnections();
    await closing;
  };
}
