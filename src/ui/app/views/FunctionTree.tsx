/**
 * One function version's image distribution drawn as a tree: the registry on top, then the hosts, each
 * edge filling up as the host below it receives the image (blocks local / blocks in the image) and
 * labelled with its progress. A FaaSNet function tree is drawn as the control plane keeps it; with the
 * `registry` strategy every host hangs off the registry; `swarm` has no fixed edges, so only the table
 * below the drawing describes it. The table lists the same figures for every host (and is what screen
 * readers and small screens get).
 */
import type { DistributionHostView, DistributionView, TreeNodeView } from '../../../api/cluster-types';
import { bytes, percent } from '../format';

/** A node placed for drawing: the registry or a host, with its children. */
interface Placed {
  id: string;
  x: number;
  depth: number;
  children: Placed[];
}

/** Horizontal room per leaf, vertical room per level, and a node's box (a host id fits in it). */
const SLOT = 118;
const LEVEL = 84;
const NODE_W = 100;
const NODE_H = 28;

/** Leaves take consecutive slots left to right; a parent sits over the middle of its children. */
function place(id: string, kids: (id: string) => string[], depth: number, next: { slot: number }): Placed {
  const children = kids(id).map((k) => place(k, kids, depth + 1, next));
  const x =
    children.length === 0
      ? (next.slot++ + 0.5) * SLOT
      : (children[0]!.x + children[children.length - 1]!.x) / 2;
  return { id, x, depth, children };
}

function childrenOf(view: DistributionView): ((id: string) => string[]) | undefined {
  if (view.strategy === 'registry') {
    const hosts = view.hosts.map((h) => h.host);
    return (id) => (id === 'registry' ? hosts : []);
  }
  if (view.tree?.root) {
    const byHost = new Map<string, TreeNodeView>();
    const walk = (n: TreeNodeView | null) => {
      if (!n) return;
      byHost.set(n.host, n);
      walk(n.left);
      walk(n.right);
    };
    walk(view.tree.root);
    const root = view.tree.root.host;
    return (id) => {
      if (id === 'registry') return [root];
      const n = byHost.get(id);
      return [n?.left?.host, n?.right?.host].filter((h): h is string => h !== undefined);
    };
  }
  return undefined;
}

/** Fraction of the image on the host (0 when the image size is unknown). */
export function progressOf(view: DistributionView, h: DistributionHostView | undefined): number {
  if (!h || !view.image || view.image.blocks === 0) return 0;
  return Math.min(1, h.blocksLocal / view.image.blocks);
}

export function FunctionTree(props: { view: DistributionView }) {
  const { view } = props;
  const kids = childrenOf(view);
  const hosts = new Map(view.hosts.map((h) => [h.host, h]));
  let drawing = null;
  if (kids) {
    const next = { slot: 0 };
    const root = place('registry', kids, 0, next);
    const all: Placed[] = [];
    const collect = (n: Placed) => {
      all.push(n);
      n.children.forEach(collect);
    };
    collect(root);
    const depth = Math.max(...all.map((n) => n.depth));
    const W = Math.max(1, next.slot) * SLOT;
    const H = depth * LEVEL + NODE_H + 4;
    /** Top of a node's box. */
    const y = (n: Placed) => 2 + n.depth * LEVEL;
    const complete = view.hosts.filter((h) => progressOf(view, h) >= 1).length;
    drawing = (
      <svg
        class="ft-svg"
        viewBox={`0 0 ${W} ${H}`}
        style={{ maxWidth: `${W * 1.2}px` }}
        role="img"
        aria-label={`${view.strategy === 'tree' ? 'function tree' : 'registry fan-out'} of ${view.fn}: ${view.hosts.length} hosts, ${complete} with the whole image`}
      >
        {all.flatMap((parent) =>
          parent.children.map((child) => {
            const h = hosts.get(child.id);
            const p = progressOf(view, h);
            const [x1, y1, x2, y2] = [parent.x, y(parent) + NODE_H, child.x, y(child)];
            return (
              <g
                class={`ft-edge${p >= 1 ? ' done' : ''}`}
                data-from={parent.id}
                data-to={child.id}
                data-progress={p.toFixed(3)}
              >
                <title>
                  {parent.id} → {child.id}: {h?.blocksLocal ?? 0} of {view.image?.blocks ?? '?'} blocks,{' '}
                  {bytes(h?.bytesFromUpstream ?? 0)} over this edge
                </title>
                <line class="ft-track" x1={x1} y1={y1} x2={x2} y2={y2} />
                {p > 0 && (
                  <line class="ft-fill" x1={x1} y1={y1} x2={x1 + (x2 - x1) * p} y2={y1 + (y2 - y1) * p} />
                )}
                <text
                  class="ft-edge-label"
                  x={(x1 + x2) / 2 + (x2 < x1 ? -6 : 6)}
                  y={(y1 + y2) / 2 + 4}
                  text-anchor={x2 < x1 ? 'end' : 'start'}
                >
                  {percent(Math.round(p * 1000), 1000)}
                </text>
              </g>
            );
          }),
        )}
        {all.map((n) => {
          const done = n.id === 'registry' || progressOf(view, hosts.get(n.id)) >= 1;
          return (
            <g
              class={`ft-node${n.id === 'registry' ? ' registry' : ''}${done ? ' done' : ''}`}
              data-host={n.id}
            >
              <rect x={n.x - NODE_W / 2} y={y(n)} width={NODE_W} height={NODE_H} rx={6} />
              <text class="ft-node-label" x={n.x} y={y(n) + NODE_H / 2 + 4} text-anchor="middle">
                {n.id.length > 13 ? `${n.id.slice(0, 12)}…` : n.id}
              </text>
            </g>
          );
        })}
      </svg>
    );
  }
  return (
    <div class="ft" data-fn={view.fn}>
      {drawing ?? (
        <p class="muted small">
          Swarm: hosts trade blocks with any peer that has them (rarest first), so there are no fixed edges to
          draw; the table shows each host's progress.
        </p>
      )}
      <div class="table-wrap">
        <table class="ft-table" data-testid="distribution-hosts">
          <thead>
            <tr>
              <th scope="col">host</th>
              <th scope="col">fetches from</th>
              <th scope="col">image on the host</th>
              <th scope="col" class="num">
                over that edge
              </th>
              <th scope="col" class="num">
                from registry
              </th>
              <th scope="col" class="num">
                from peers
              </th>
              <th scope="col" class="num">
                already cached
              </th>
            </tr>
          </thead>
          <tbody>
            {view.hosts.map((h) => {
              const p = progressOf(view, h);
              return (
                <tr data-host={h.host} data-blocks={h.blocksLocal}>
                  <th scope="row">{h.host}</th>
                  <td>{h.upstream ?? 'any peer'}</td>
                  <td class="ft-progress">
                    <progress
                      max={1}
                      value={p}
                      aria-label={`${h.host}: ${percent(Math.round(p * 1000), 1000)} of the image`}
                    />{' '}
                    {h.blocksLocal} / {view.image?.blocks ?? '?'} blocks
                  </td>
                  <td class="num">{h.upstream ? bytes(h.bytesFromUpstream) : '—'}</td>
                  <td class="num">{bytes(h.bytesFromRegistry)}</td>
                  <td class="num">{bytes(h.bytesFromPeers)}</td>
                  <td class="num">{h.blocksCached} blocks</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
