/**
 * One block at a time to each requester, in the order it asked. A host keeps several block requests
 * in flight to the same source (a tree child keeps `pipelineDepth` to its parent, a fetch job has
 * several lanes to the registry) so that the request round trip is hidden behind the transfer before
 * it. Sent at once, those blocks share the link: k blocks in flight each arrive after k block times,
 * and in a tree, where a host forwards a block only once it has all of it, every level adds k block
 * times before its children can have it. A server that takes {@link RequesterTurns} sends the
 * requests of one requester one after another instead: the link stays busy (the next request is
 * already waiting), the first block arrives after one block time, and a tree level adds one.
 *
 * Requests of different requesters are not ordered against each other; a server's link is still
 * shared between its requesters (a tree parent's two children, a swarm peer's downloaders).
 *
 * Servers always honour it; hosts ask for it (name themselves) only with `kindling worker
 * --requester-turns`. The simulator's network alone put a 16-host tree + lazy at 3.06 s with turns
 * against 3.82 s without, but on the test cluster (`npm run bench:dist -- --ab-turns`) the tree was
 * unchanged and the whole-image swarm 2.5-4% slower: a swarm lane waiting its turn at one peer cannot
 * take the block from another, and a TCP connection that waits may restart from slow start.
 */
import type { ServerResponse } from 'node:http';
import { KindlingError } from '../core/errors.js';

/** Request header naming the host a block request is for (so a server can tell requesters apart). */
export const REQUESTER_HEADER = 'x-kindling-host';

interface Waiter {
  go: () => void;
}

/** A requester with a send running: the sends waiting behind it, in order. */
interface Line {
  waiting: Waiter[];
}

/** Counters, for metrics and tests. */
export interface RequesterTurnsStats {
  /** Sends that had to wait for an earlier one to the same requester. */
  queued: number;
}

/** The per-requester queues of one server; see the module comment. */
export class RequesterTurns {
  readonly stats: RequesterTurnsStats = { queued: 0 };
  /** Requesters with a send running (a line exists exactly while one does). */
  private readonly lines = new Map<string, Line>();

  /**
   * Resolves when `requester` may be sent its next block, with the function to call (once is
   * enough) when that send has ended; rejects with the signal's reason if it aborts first.
   */
  turn(requester: string, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const running = this.lines.get(requester);
    const l = running ?? { waiting: [] };
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      const next = l.waiting.shift();
      if (next) next.go();
      else this.lines.delete(requester);
    };
    if (!running) {
      this.lines.set(requester, l);
      return Promise.resolve(end);
    }
    this.stats.queued++;
    return new Promise<() => void>((resolve, reject) => {
      const waiter: Waiter = {
        go: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(end);
        },
      };
      const onAbort = (): void => {
        const i = l.waiting.indexOf(waiter);
        if (i >= 0) l.waiting.splice(i, 1);
        reject(signal?.reason);
      };
      l.waiting.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * Call just before sending a block response on `res` to `requester` (the {@link REQUESTER_HEADER},
 * absent for clients that do not name themselves, which are not ordered): waits for the requester's
 * earlier responses, and holds its turn until `res` closes (sent, or the connection dropped).
 */
export async function awaitRequesterTurn(
  turns: RequesterTurns,
  requester: string | undefined,
  res: ServerResponse,
): Promise<void> {
  if (requester === undefined) return;
  const gone = new AbortController();
  const onClose = (): void =>
    gone.abort(new KindlingError('KINDLING_UNAVAILABLE', 'the requester went away'));
  res.once('close', onClose);
  let end: () => void;
  try {
    end = await turns.turn(requester, gone.signal);
  } finally {
    res.off('close', onClose);
  }
  if (res.destroyed || res.writableFinished) end();
  else res.once('close', end);
}

/**
 * The requester of a request that names one (the {@link REQUESTER_HEADER}), qualified by the address
 * it came from, so a client can only ever queue behind its own requests; undefined otherwise.
 */
export function requesterOf(request: {
  headers: Record<string, string | string[] | undefined>;
  socket: { remoteAddress?: string | undefined };
}): string | undefined {
  const v = request.headers[REQUESTER_HEADER];
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) return undefined;
  return `${request.socket.remoteAddress ?? ''} ${v}`;
}
