/**
 * How one direction of a test-cluster link is shaped: a rate limit with a fair queue per peer under
 * it, written as a `tc -batch` script.
 *
 * A plain token bucket (`tbf`) has one FIFO queue. When 16 hosts fetch from the registry at once,
 * whichever TCP connections grew their windows first keep most of the link, and the last host's
 * startup working set arrived 10 s after the median host's (registry + lazy, 16 hosts). A real
 * host's qdisc shares the link between flows (`fq_codel` is Linux's usual default), and so does the
 * simulator (max-min fairness). The kernels this was developed on have none of `fq_codel`, `fq`,
 * `sfq` or `drr`, but they have HTB and the u32 classifier, which make the same thing: one HTB
 * class for the link's rate, and under it one leaf class per peer address (its destination on a
 * host's upload, its source on the bridge side that shapes the host's download), each guaranteed an
 * equal share and allowed to borrow up to the whole rate. HTB serves the leaves that borrow in
 * deficit round robin, so peers share the link evenly whatever number of connections each holds.
 * Traffic to or from any other address (ARP, the operator's link) goes to a default leaf.
 *
 * With `queue: 'fifo'` there is one leaf, a single FIFO under the rate as a token bucket has, for
 * comparing the two (`npm run bench:dist -- --ab-queue`).
 *
 * Each leaf's queue is a byte FIFO sized so that all of them together hold about 100 ms of traffic
 * at the link's rate, as the token bucket did, but never less than 256 KiB: a veth passes
 * segmentation-offloaded packets of up to 64 KiB, which HTB does not split. With `latencyMs`, each
 * leaf is a netem delay instead (kernels with netem only).
 */
import { KindlingError } from '../core/errors.js';

/** One direction of a link. */
export interface LinkShaping {
  /** The link's rate, bits per second. */
  bitsPerSec: number;
  /** The addresses on the other side, one fair-queued class each. */
  peers: readonly string[];
  /** Classify by the packets' destination (a host's upload) or source (its download, bridge side). */
  match: 'dst' | 'src';
  /** One-way delay added in each leaf with netem; 0 or undefined for none. */
  latencyMs?: number;
  /** A fair queue per peer (the default) or one FIFO for the whole link. */
  queue?: LinkQueue;
}

/** How a shaped link queues what waits for its rate. */
export type LinkQueue = 'fair' | 'fifo';

/** Parses `--link-queue`. */
export function parseLinkQueue(text: string): LinkQueue {
  if (text === 'fair' || text === 'fifo') return text;
  throw new KindlingError(
    'KINDLING_INVALID_CONFIG',
    `invalid link queue ${JSON.stringify(text)}: use fair (a queue per peer) or fifo (one queue)`,
  );
}

const QUEUE_MS = 100;
const MIN_LEAF_QUEUE_BYTES = 256 * 1024;
/** Bytes a leaf may send per round when peers borrow: one offloaded packet. */
const QUANTUM_BYTES = 64 * 1024;
const DEFAULT_CLASS = 2;
const FIRST_PEER_CLASS = 16;

/** The token bucket depth of the whole link: 10 ms of traffic, at least 64 KiB (as the tbf had). */
function burstBytes(bits: number): number {
  return Math.max(64 * 1024, Math.round(bits / 8 / 100));
}

/** Bytes each leaf's FIFO holds (see the module comment). */
export function leafQueueBytes(bits: number, leaves: number): number {
  return Math.max(MIN_LEAF_QUEUE_BYTES, Math.round(((bits / 8) * (QUEUE_MS / 1000)) / leaves));
}

/** The `tc -batch` lines (without the leading `tc`) that shape egress of `dev` as `shaping` says. */
export function fairShapingBatch(dev: string, shaping: LinkShaping): string[] {
  const { bitsPerSec, match } = shaping;
  const peers = shaping.queue === 'fifo' ? [] : shaping.peers;
  if (!(bitsPerSec >= 64_000)) {
    throw new KindlingError('KINDLING_INVALID_CONFIG', `link rate ${bitsPerSec} bit/s is below 64kbit`);
  }
  if (new Set(peers).size !== peers.length) {
    throw new KindlingError('KINDLING_INVALID_CONFIG', `link peers repeat an address: ${peers.join(', ')}`);
  }
  for (const peer of peers) {
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(peer)) {
      throw new KindlingError(
        'KINDLING_INVALID_CONFIG',
        `link peer ${JSON.stringify(peer)} is not an IPv4 address`,
      );
    }
  }
  const rate = Math.round(bitsPerSec);
  const burst = burstBytes(bitsPerSec);
  const leaves = peers.length + 1;
  const share = Math.max(8_000, Math.floor(rate / leaves));
  const leafQdisc = shaping.latencyMs
    ? `netem delay ${shaping.latencyMs}ms limit ${Math.ceil(leafQueueBytes(bitsPerSec, leaves) / 1500)}`
    : `bfifo limit ${leafQueueBytes(bitsPerSec, leaves)}`;
  const leaf = (minor: number) => [
    `class add dev ${dev} parent 1:1 classid 1:${minor.toString(16)} htb rate ${share}bit ceil ${rate}bit ` +
      `burst ${burst} cburst ${burst} quantum ${QUANTUM_BYTES}`,
    `qdisc add dev ${dev} parent 1:${minor.toString(16)} ${leafQdisc}`,
  ];
  const lines = [
    `qdisc replace dev ${dev} root handle 1: htb default ${DEFAULT_CLASS.toString(16)}`,
    `class add dev ${dev} parent 1: classid 1:1 htb rate ${rate}bit ceil ${rate}bit burst ${burst} cburst ${burst} quantum ${QUANTUM_BYTES}`,
    ...leaf(DEFAULT_CLASS),
  ];
  peers.forEach((peer, i) => {
    const minor = FIRST_PEER_CLASS + i;
    lines.push(
      ...leaf(minor),
      `filter add dev ${dev} parent 1: protocol ip prio 1 u32 match ip ${match} ${peer}/32 flowid 1:${minor.toString(16)}`,
    );
  });
  return lines;
}

/** The class a peer's traffic goes through, as `tc -s class show` names it (`1:10`, `1:11`, …). */
export function peerClassId(shaping: LinkShaping, peer: string): string | undefined {
  const i = shaping.queue === 'fifo' ? -1 : shaping.peers.indexOf(peer);
  return i < 0 ? undefined : `1:${(FIRST_PEER_CLASS + i).toString(16)}`;
}
