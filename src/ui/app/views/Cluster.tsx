/**
 * Cluster: the hosts that run functions, with their memory, instances and cached images, and (in
 * cluster mode) each function version's image distribution: its function tree drawn with every edge
 * filling up as the image spreads, and the bytes that came from the registry and from peers. Live over
 * its own event stream (`/v1/events/cluster`), opened while the view is shown.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { ClusterHostView, ClusterView, DistributionView } from '../../../api/cluster-types';
import { functionHref } from '../router';
import { bytes, percent } from '../format';
import { useSession } from '../session';
import { EventStream, type StreamStatus } from '../stream';
import { FunctionTree, progressOf } from './FunctionTree';
import { InstancesTable } from './InstancesTable';
import { ErrorPanel, Pager } from './parts';

const PAGE = 10;

/** The cluster view, kept live by its stream while the component is mounted. */
function useClusterStream(): { view?: ClusterView; problem?: Error; status: StreamStatus } {
  const session = useSession();
  const [view, setView] = useState<ClusterView | undefined>(undefined);
  const [problem, setProblem] = useState<Error | undefined>(undefined);
  const [status, setStatus] = useState<StreamStatus>('connecting');
  useEffect(() => {
    const stream = new EventStream({
      key: session.key,
      path: '/v1/events/cluster',
      on: {
        cluster: (data) => {
          setView(data as ClusterView);
          setProblem(undefined);
          setStatus('live');
        },
        problem: (data) => setProblem(new Error((data as { message: string }).message)),
      },
      onStatus: (s) => setStatus(s),
      onKeyRefused: (err) =>
        session.signOut(`Signed out: the platform no longer accepts this key (${err.message}).`),
    });
    void stream.start();
    return () => stream.stop();
  }, [session]);
  return { view, problem, status };
}

export function Cluster() {
  const { view, problem, status } = useClusterStream();
  return (
    <div class="view">
      <div class="title-row">
        <h1>Cluster</h1>
        {view && status !== 'live' && status !== 'stopped' && (
          <span class="muted small" role="status">
            {status === 'connecting' ? 'connecting…' : 'reconnecting… (showing the last update)'}
          </span>
        )}
      </div>
      {problem && <ErrorPanel error={problem} title="The cluster view could not be updated" />}
      {!view && !problem && <p class="muted">Loading…</p>}
      {view && (
        <>
          {view.mode === 'embedded' && (
            <div class="notice" role="note" data-testid="cluster-notice">
              <strong>Cluster mode is not running: this is the embedded single-host platform.</strong>
              <p>
                Gateway, scheduler, registry and one worker run in one process (<code>kindling up</code>). Run{' '}
                <code>kindling up --cluster</code> and start workers (<code>kindling worker</code>, or a whole
                test cluster with <code>kindling cluster up</code>) to see each host here and each function's
                image spreading over its function tree.
              </p>
            </div>
          )}
          <section class="hosts" aria-label="Hosts">
            {view.hosts.map((h) => (
              <HostCard host={h} />
            ))}
          </section>
          {view.mode === 'cluster' && <Distributions trees={view.trees} />}
        </>
      )}
    </div>
  );
}

function HostCard(props: { host: ClusterHostView }) {
  const h = props.host;
  const used = h.memory.totalBytes - h.memory.freeBytes;
  return (
    <article class="card host" data-host={h.id}>
      <h2>
        {h.id === 'local' ? h.name : h.id}{' '}
        <span class="muted small">({h.id === 'local' ? 'local' : h.name})</span>
      </h2>
      <p class="muted">{h.roles.join(' · ')}</p>
      <dl class="kv">
        {h.cpus !== undefined && (
          <>
            <dt>CPUs</dt>
            <dd>
              {h.cpus} (load {(h.loadAverage ?? []).map((l) => l.toFixed(2)).join(' / ')})
            </dd>
          </>
        )}
        <dt>memory</dt>
        <dd>
          {bytes(used)} of {bytes(h.memory.totalBytes)} in use
          <meter min={0} max={h.memory.totalBytes} value={used} aria-label={`memory in use on ${h.id}`} />
        </dd>
        <dt>{h.id === 'local' ? 'platform process' : 'worker process'}</dt>
        <dd>{bytes(h.memory.platformRssBytes)} resident</dd>
        <dt>warm pools</dt>
        <dd>{h.pools}</dd>
        {h.id !== 'local' && (
          <>
            <dt>cached images</dt>
            <dd data-testid="host-images">{h.images}</dd>
            <dt>distributions</dt>
            <dd data-testid="host-distributions">
              {h.imageVersions.length > 0 ? h.imageVersions.join(', ') : <span class="muted">none</span>}
            </dd>
            <dt>last heartbeat</dt>
            <dd>
              {h.lastHeartbeatMsAgo !== undefined ? `${(h.lastHeartbeatMsAgo / 1000).toFixed(1)} s ago` : '—'}
            </dd>
          </>
        )}
      </dl>
      <h3>Instances</h3>
      <InstancesTable counts={h.instances} />
    </article>
  );
}

/** Bytes from the registry and from peers as one split bar. */
function SourceSplit(props: { registry: number; peers: number }) {
  const total = props.registry + props.peers;
  return (
    <div class="split" data-testid="bytes-split">
      <div class="split-bar" aria-hidden="true">
        <span class="split-registry" style={{ width: percent(props.registry, total || 1) }} />
        <span class="split-peers" style={{ width: percent(props.peers, total || 1) }} />
      </div>
      <span>
        <span class="swatch split-registry" aria-hidden="true" /> registry{' '}
        <strong data-testid="bytes-registry" data-bytes={props.registry}>
          {bytes(props.registry)}
        </strong>
        {' · '}
        <span class="swatch split-peers" aria-hidden="true" /> peers{' '}
        <strong data-testid="bytes-peers" data-bytes={props.peers}>
          {bytes(props.peers)}
        </strong>
        {total > 0 && <span class="muted"> ({percent(props.peers, total)} from peers)</span>}
      </span>
    </div>
  );
}

function Distributions(props: { trees: DistributionView[] }) {
  const session = useSession();
  const [filter, setFilter] = useState('');
  const [page, setPage] = useState(0);
  const shown = useMemo(
    () => props.trees.filter((t) => t.fn.toLowerCase().includes(filter.trim().toLowerCase())),
    [props.trees, filter],
  );
  const last = Math.max(0, Math.ceil(shown.length / PAGE) - 1);
  const current = Math.min(page, last);
  const registry = props.trees.reduce((s, t) => s + t.bytesFromRegistry, 0);
  const peers = props.trees.reduce((s, t) => s + t.bytesFromPeers, 0);
  return (
    <section class="card" aria-labelledby="distribution-head">
      <div class="section-head">
        <h2 id="distribution-head">Image distribution</h2>
        {props.trees.length > PAGE && (
          <input
            type="search"
            placeholder="Filter by function"
            aria-label="Filter distributions by function"
            value={filter}
            onInput={(e) => {
              setFilter((e.target as HTMLInputElement).value);
              setPage(0);
            }}
          />
        )}
      </div>
      {props.trees.length === 0 ? (
        <div class="empty" data-testid="empty-distributions">
          <p>
            <strong>No image is being distributed right now.</strong> A host joins a function's distribution
            when a cold start is placed on it; invoke a function and watch its image spread:
          </p>
          <pre>
            <code>{`KINDLING_URL=${location.origin} KINDLING_API_KEY=<your key> \\
  npx kindling invoke my-fn --data '{}'`}</code>
          </pre>
        </div>
      ) : (
        <>
          <p>
            All images, bytes fetched by the hosts: <SourceSplit registry={registry} peers={peers} />
          </p>
          {shown.slice(current * PAGE, (current + 1) * PAGE).map((t) => (
            <article class="distribution" data-fn={t.fn} data-strategy={t.strategy}>
              <h3>
                <a href={functionHref(t.name, t.tenant !== session.principal.tenant ? t.tenant : undefined)}>
                  {t.name}
                </a>{' '}
                v{t.version}
                {session.principal.role === 'admin' && <span class="muted small"> ({t.tenant})</span>}{' '}
                <span class="badge">{t.strategy}</span>
              </h3>
              <p class="muted small">
                {t.image
                  ? `image ${t.image.digest.slice(7, 19)}: ${t.image.blocks} blocks, ${bytes(t.image.bytes)} compressed`
                  : 'image size unknown (its manifest cannot be read)'}
                {' · '}
                {t.hosts.length} hosts, {t.hosts.filter((h) => progressOf(t, h) >= 1).length} with the whole
                image
                {t.tree && ` · tree height ${t.tree.height}`}
              </p>
              <SourceSplit registry={t.bytesFromRegistry} peers={t.bytesFromPeers} />
              <FunctionTree view={t} />
            </article>
          ))}
          {shown.length > PAGE && (
            <Pager
              label="Distributions pages"
              page={current}
              size={PAGE}
              total={shown.length}
              onPage={setPage}
            />
          )}
          {shown.length === 0 && <p class="muted">No distribution matches “{filter}”.</p>}
        </>
      )}
    </section>
  );
}
