/**
 * Cluster: the hosts that run functions. Today that is the embedded platform's one host; the view
 * lists `hosts` and `trees` from `GET /v1/ui/cluster` so cluster mode can fill them in.
 */
import { useEffect, useState } from 'preact/hooks';
import { request } from '../api';
import type { Tick } from '../feed';
import { bytes } from '../format';
import { useFeed, useSession } from '../session';
import { InstancesTable } from './InstancesTable';
import { ErrorPanel } from './parts';

interface Host {
  id: string;
  name: string;
  roles: string[];
  cpus: number;
  loadAverage: number[];
  memory: { totalBytes: number; freeBytes: number; platformRssBytes: number };
  instances: Tick['instances'];
  pools: number;
}

interface ClusterInfo {
  mode: 'embedded' | 'cluster';
  message: string;
  hosts: Host[];
  trees: unknown[];
}

export function Cluster() {
  const session = useSession();
  const feed = useFeed();
  const [info, setInfo] = useState<ClusterInfo | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    request<ClusterInfo>(session.key, 'GET', '/v1/ui/cluster').then(
      (r) => setInfo(r.body),
      (err: Error) => setError(err),
    );
  }, []);
  return (
    <div class="view">
      <h1>Cluster</h1>
      {error && <ErrorPanel error={error} />}
      {!info && !error && <p class="muted">Loading…</p>}
      {info && (
        <>
          {info.mode === 'embedded' && (
            <div class="notice" role="note" data-testid="cluster-notice">
              <strong>Cluster mode is not running: this is the embedded single-host platform.</strong>
              <p>
                Gateway, scheduler, registry and one worker run in one process (<code>kindling up</code>).
                When cluster mode runs, each worker host is listed here with its instances, and each
                function's distribution tree below.
              </p>
            </div>
          )}
          <section class="hosts" aria-label="Hosts">
            {info.hosts.map((h) => {
              const used = h.memory.totalBytes - h.memory.freeBytes;
              // The one local host's instances are live from the feed; other hosts will carry their own.
              const instances =
                info.mode === 'embedded' ? (feed.last?.instances ?? h.instances) : h.instances;
              return (
                <article class="card host" data-host={h.id}>
                  <h2>
                    {h.name} <span class="muted small">({h.id})</span>
                  </h2>
                  <p class="muted">{h.roles.join(' · ')}</p>
                  <dl class="kv">
                    <dt>CPUs</dt>
                    <dd>
                      {h.cpus} (load {h.loadAverage.map((l) => l.toFixed(2)).join(' / ')})
                    </dd>
                    <dt>memory</dt>
                    <dd>
                      {bytes(used)} of {bytes(h.memory.totalBytes)} in use
                      <meter min={0} max={h.memory.totalBytes} value={used} aria-label="host memory in use" />
                    </dd>
                    <dt>platform process</dt>
                    <dd>{bytes(h.memory.platformRssBytes)} resident</dd>
                    <dt>warm pools</dt>
                    <dd>{h.pools}</dd>
                  </dl>
                  <h3>Instances</h3>
                  <InstancesTable counts={instances} />
                </article>
              );
            })}
          </section>
          <section class="card">
            <h2>Distribution trees</h2>
            <p class="muted">
              {info.trees.length === 0
                ? 'None: with one host every image comes from the local registry. Function trees (FaaSNet) appear here in cluster mode.'
                : `${info.trees.length} trees`}
            </p>
          </section>
        </>
      )}
    </div>
  );
}
