/**
 * Closing an HTTP server completely. Node's `server.close()` waits for every connection to end; it
 * closes the idle keep-alive ones, but not a connection that never sent a request (a browser's
 * preconnect, a peer that connected while this process was stopped) nor one whose client stalled in
 * the middle of sending a request; with no request timeout, Node waits on them forever, so a
 * platform told to stop (SIGTERM) would not. Closing here stops accepting, lets every request that
 * has arrived whole be answered (an invocation runs to its end, as before), gives a request still
 * arriving `BODY_GRACE_MS` to finish, then destroys whatever is left.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';

/** How long a request still being received when the server closes may take to arrive. */
const BODY_GRACE_MS = 5_000;

/**
 * Starts tracking `app`'s requests in progress (every request its server receives, whether fastify
 * or a handler in front of it answers) and returns the function that closes the app completely.
 * Call it before the server listens.
 */
export function drainingClose(app: FastifyInstance): () => Promise<void> {
  const server: Server = app.server;
  const open = new Map<ServerResponse, IncomingMessage>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    open.set(res, req);
    // 'close' comes once the response is sent or the connection is gone, whichever is first.
    res.once('close', () => open.delete(res));
  });
  return async () => {
    let settled = false;
    const closing = app.close().finally(() => (settled = true));
    // fastify stops the server after its preClose hooks: from then on no connection is accepted.
    while (server.listening && !settled) await sleep(5);
    const graceEnds = performance.now() + BODY_GRACE_MS;
    while (open.size > 0 && !settled) {
      // A request whose body has not all come in is not running yet: past the grace, cut it off.
      if (performance.now() > graceEnds)
        for (const [res, req] of open) if (!req.complete) res.socket?.destroy();
      await sleep(20);
    }
    server.closeAllConnections();
    await closing;
  };
}
