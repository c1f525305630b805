/**
 * One function: configuration, versions and aliases, live recent invocations with cold vs warm over
 * time, the invoke form, and one invocation in detail (waterfall, result, logs).
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../api';
import {
  request,
  tenantQuery,
  type FunctionSummary,
  type FunctionVersion,
  type InvocationRecord,
} from '../api';
import { summarize } from '../../../api/event-types';
import type { InvocationSummary } from '../feed';
import { bytes, duration, ms, time } from '../format';
import { BASE, functionHref, navigate, type Route } from '../router';
import { useFeed, useSession } from '../session';
import { InvokeForm, type InvokeOutcome } from './InvokeForm';
import { ColdBadge, ErrorPanel, Head, Stat } from './parts';
import { TimeChart } from './TimeChart';
import { Waterfall } from './Waterfall';

interface Stats {
  invocations: number;
  cold: number;
  warm: number;
  errors: number;
  cold_ms: Record<'p50' | 'p99', Record<string, number>>;
  warm_ms: Record<'p50' | 'p99', Record<string, number>>;
  instances: Loaded['fn']['instances'];
}

interface Loaded {
  fn: FunctionSummary & {
    instances: { version: number; instances: { id: string; state: string }[] }[];
    /** Each cron expression's next and last tick (ISO), from `GET /v1/functions/{name}`. */
    schedules?: { cron: string; nextRun: string | null; lastRun: string | null }[];
  };
  versions: FunctionVersion[];
  invocations: InvocationSummary[];
}

/** A record as the feed would have summarised it, so loaded and live rows are alike. */
const toSummary = (r: InvocationRecord): InvocationSummary => summarize(r, r.createdAt);

export function FunctionView(props: { name: string; route: Route }) {
  const session = useSession();
  const feed = useFeed();
  const tenant = props.route.query.get('tenant') ?? session.principal.tenant;
  const q = tenantQuery(session.principal, tenant);
  const selected = props.route.query.get('invocation') ?? undefined;
  const [data, setData] = useState<Loaded | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [stats, setStats] = useState<Stats | undefined>(undefined);
  const [statsError, setStatsError] = useState<Error | undefined>(undefined);
  const [outcome, setOutcome] = useState<InvokeOutcome | undefined>(undefined);
  const base = `/v1/functions/${encodeURIComponent(props.name)}`;

  useEffect(() => {
    let live = true;
    setData(undefined);
    setError(undefined);
    setOutcome(undefined);
    // The function first: when it does not exist, that one answer says so and nothing else is asked.
    const load = async (): Promise<Loaded> => {
      const fn = await request<Loaded['fn']>(session.key, 'GET', `${base}${q}`);
      const [versions, invocations] = await Promise.all([
        request<{ versions: FunctionVersion[] }>(session.key, 'GET', `${base}/versions${q}`),
        request<{ invocations: InvocationRecord[] }>(
          session.key,
          'GET',
          `${base}/invocations?limit=100${tenantQuery(session.principal, tenant, false)}`,
        ),
      ]);
      return {
        fn: fn.body,
        versions: versions.body.versions,
        invocations: invocations.body.invocations
          .filter((r) => r.status !== 'queued' && r.status !== 'running')
          .map(toSummary)
          .reverse(),
      };
    };
    load().then(
      (loaded) => live && setData(loaded),
      (err: Error) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [props.name, tenant]);

  // Invocations of this function that the feed reported since the page loaded.
  const seen = useRef(0);
  const [recent, setRecent] = useState<InvocationSummary[]>([]);
  useEffect(() => {
    setRecent([]);
    seen.current = feed.received;
  }, [props.name, tenant]);
  useEffect(() => {
    // Counted by `received`, not by position: `recent` drops its oldest under load.
    const n = Math.min(feed.received - seen.current, feed.recent.length);
    seen.current = feed.received;
    const fresh =
      n > 0 ? feed.recent.slice(-n).filter((s) => s.fn === props.name && s.tenant === tenant) : [];
    if (fresh.length > 0) setRecent((r) => [...r, ...fresh].slice(-500));
  }, [feed.version]);

  // Stats: on load, then whenever the feed shows new invocations of this function (at most every 2 s,
  // the last change always included).
  const lastStats = useRef(0);
  useEffect(() => {
    if (!data) return;
    const load = () => {
      lastStats.current = Date.now();
      request<Stats>(session.key, 'GET', `${base}/stats${q}`).then(
        (r) => setStats(r.body),
        (err: Error) => setStatsError(err),
      );
    };
    const wait = lastStats.current + 2000 - Date.now();
    if (wait <= 0) {
      load();
      return;
    }
    const timer = setTimeout(load, wait);
    return () => clearTimeout(timer);
  }, [data, recent.length]);

  const invocations = useMemo(() => {
    if (!data) return [];
    const byId = new Map<string, InvocationSummary>();
    for (const s of data.invocations) byId.set(s.id, s);
    for (const s of recent) byId.set(s.id, s);
    return [...byId.values()].sort((a, b) => a.createdAt - b.createdAt || a.finishedAt - b.finishedAt);
  }, [data, recent]);

  const chartData = useMemo(() => {
    const list = invocations.slice(-300);
    return [
      list.map((s) => s.finishedAt / 1000),
      list.map((s) => (s.cold ? s.totalMs : null)),
      list.map((s) => (s.cold ? null : s.totalMs)),
    ];
  }, [invocations]);

  const select = (id: string | undefined, replace = false) => {
    const extra = id ? `invocation=${encodeURIComponent(id)}` : '';
    navigate(
      functionHref(props.name, tenant !== session.principal.tenant ? tenant : undefined, extra),
      replace,
    );
  };

  if (error) {
    const e = error as ApiError;
    return (
      <section class="card empty" data-testid="function-error">
        <h1>{props.name}</h1>
        {e.code === 'KINDLING_FUNCTION_NOT_FOUND' ? (
          <div role="alert">
            <p>
              <strong>
                There is no function named “{props.name}” in tenant {tenant}.
              </strong>
            </p>
            <p>
              Check the name on the <a href={`${BASE}/`}>overview</a>, or deploy it:{' '}
              <code>
                npx kindling deploy ./{props.name} --name {props.name}
              </code>
            </p>
          </div>
        ) : (
          <ErrorPanel error={error} title="This function cannot be shown" />
        )}
      </section>
    );
  }
  if (!data) return <p class="muted view">Loading {props.name}…</p>;

  const fn = data.fn;
  // The stats, refreshed as invocations arrive, carry the current instances too.
  const instances = (stats?.instances ?? fn.instances).flatMap((v) => v.instances);
  const versionsWithAliases = data.versions
    .slice()
    .reverse()
    .map((v) => ({
      v,
      aliases: Object.entries(fn.aliases)
        .filter(([, n]) => n === v.version)
        .map(([a]) => a),
    }));

  return (
    <div class="view">
      <div class="title-row">
        <h1>
          {fn.name} <span class="muted small">v{fn.latestVersion}</span>
        </h1>
        <span class="muted">
          tenant {fn.tenant} · {fn.config.tier} tier · {fn.config.memoryMb} MiB
        </span>
      </div>
      {statsError && <ErrorPanel error={statsError} title="Statistics are not available" />}
      <section class="stats" aria-label="Function figures">
        <Stat label="invocations (last 1000)" value={stats ? String(stats.invocations) : '…'} />
        <Stat label="cold / warm" value={stats ? `${stats.cold} / ${stats.warm}` : '…'} />
        <Stat label="errors" value={stats ? String(stats.errors) : '…'} />
        <Stat label="cold p50" value={stats ? ms(stats.cold ? stats.cold_ms.p50.total : undefined) : '…'} />
        <Stat label="warm p50" value={stats ? ms(stats.warm ? stats.warm_ms.p50.total : undefined) : '…'} />
        <Stat
          label="instances"
          value={String(instances.length)}
          hint={instances.map((i) => `${i.id} ${i.state}`).join(', ')}
        />
      </section>
      <div class="grid2">
        <section class="card">
          <InvokeForm
            name={fn.name}
            {...(tenant !== session.principal.tenant ? { tenant } : {})}
            onInvoked={(o) => {
              setOutcome(o);
              select(o.id);
            }}
          />
          {outcome && <InvokeResult outcome={outcome} />}
        </section>
        <section class="card" aria-labelledby="detail-heading">
          <h2 id="detail-heading">Invocation</h2>
          {selected ? (
            <InvocationDetail
              id={selected}
              tenant={tenant}
              feedSeen={invocations.some((s) => s.id === selected)}
              onLoaded={(r) => {
                // Listed at once, not only when the feed's next tick brings it.
                if (
                  r.functionName === fn.name &&
                  r.tenant === tenant &&
                  r.status !== 'queued' &&
                  r.status !== 'running'
                )
                  setRecent((list) => (list.some((x) => x.id === r.id) ? list : [...list, toSummary(r)]));
              }}
            />
          ) : (
            <p class="muted detail-placeholder">
              Invoke the function, or pick an invocation below, to see where its time went.
            </p>
          )}
        </section>
      </div>
      <section class="card">
        <TimeChart
          title="Cold and warm invocations over time (total latency)"
          unit=" ms"
          series={[
            { label: 'cold', color: '--c-cold', points: true },
            { label: 'warm', color: '--c-warm', points: true },
          ]}
          data={chartData}
        />
      </section>
      <section class="card" aria-labelledby="recent-heading">
        <h2 id="recent-heading">Recent invocations</h2>
        {invocations.length === 0 ? (
          <p class="empty muted">
            No invocations yet: use the form above, or <code>npx kindling invoke {fn.name}</code>.
          </p>
        ) : (
          <div class="table-wrap scroll-y">
            <table data-testid="invocations-table">
              <Head cols={['time', 'invocation', 'start', 'mode', 'status', ['total', 'num']]} />
              <tbody>
                {invocations
                  .slice(-100)
                  .reverse()
                  .map((s) => (
                    <tr
                      key={s.id}
                      data-invocation={s.id}
                      aria-selected={s.id === selected ? 'true' : undefined}
                    >
                      <td>{time(s.createdAt)}</td>
                      <td>
                        <a
                          href={functionHref(
                            fn.name,
                            tenant !== session.principal.tenant ? tenant : undefined,
                            `invocation=${s.id}`,
                          )}
                        >
                          <code>{s.id.slice(0, 13)}…</code>
                        </a>
                      </td>
                      <td>
                        <ColdBadge cold={s.cold} startPath={s.startPath} />
                      </td>
                      <td>{s.mode}</td>
                      <td class={s.status === 'failed' ? 'error-text' : ''}>{s.errorCode ?? s.status}</td>
                      <td class="num">{ms(s.totalMs)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <div class="grid2">
        <section class="card" aria-labelledby="versions-heading">
          <h2 id="versions-heading">Versions and aliases</h2>
          <div class="table-wrap">
            <table data-testid="versions-table">
              <Head cols={['version', 'aliases', 'deployed', 'image']} />
              <tbody>
                {versionsWithAliases.map(({ v, aliases }) => (
                  <tr>
                    <td>v{v.version}</td>
                    <td>
                      {aliases.map((a) => (
                        <span class="chip">{a}</span>
                      ))}
                    </td>
                    <td>{new Date(v.createdAt).toLocaleString()}</td>
                    <td>
                      <code title={v.imageDigest}>{v.imageDigest.slice(0, 19)}…</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
        <section class="card" aria-labelledby="config-heading">
          <h2 id="config-heading">Configuration (v{fn.latestVersion})</h2>
          <ConfigTable config={fn.config} schedules={fn.schedules ?? []} />
        </section>
      </div>
    </div>
  );
}

function ConfigTable(props: {
  config: FunctionSummary['config'];
  schedules: NonNullable<Loaded['fn']['schedules']>;
}) {
  const c = props.config;
  const when = (iso: string | null) => (iso ? new Date(iso).toISOString().replace('.000Z', 'Z') : 'never');
  const rows: [string, string][] = [
    ['tier', c.tier],
    ['memory', `${c.memoryMb} MiB`],
    ['timeout', duration(c.timeoutMs)],
    ['concurrency', String(c.concurrency)],
    ['max instances', String(c.maxInstances)],
    ['max queue', String(c.maxQueue)],
    ['min warm', String(c.minWarm)],
    ['keep-alive', duration(c.keepAliveMs)],
    ['keep-alive policy', c.keepAlivePolicy ?? 'platform default'],
    ['network', c.network ? 'yes' : 'no'],
    ['HTTP trigger', c.public ? 'public (no API key)' : 'API key'],
    [
      'schedule',
      props.schedules
        .map((e) => `${e.cron} (UTC; next ${when(e.nextRun)}, last ${when(e.lastRun)})`)
        .join(', ') || 'none',
    ],
    ['environment', Object.keys(c.env ?? {}).join(', ') || 'none'],
  ];
  return (
    <dl class="kv" data-testid="config">
      {rows.map(([k, v]) => (
        <>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </>
      ))}
    </dl>
  );
}

/** What the invoke form got back: the sync result (or error), or the async acceptance. */
function InvokeResult(props: { outcome: InvokeOutcome }) {
  const o = props.outcome;
  if (o.mode === 'async')
    return (
      <div class="result" data-testid="invoke-result">
        <p>
          Queued asynchronously as <code>{o.id}</code>; the invocation panel fills in when it finishes.
        </p>
      </div>
    );
  const failed = o.status >= 400;
  return (
    <div class={`result${failed ? ' failed' : ''}`} data-testid="invoke-result">
      <h3>
        {failed ? 'Error' : 'Result'} <span class="muted small">HTTP {o.status}</span>
      </h3>
      <pre data-testid="result-body">{JSON.stringify(o.body, null, 2)}</pre>
    </div>
  );
}

/** One invocation record: waterfall, facts, result or error, logs. Re-read once the feed says it finished. */
function InvocationDetail(props: {
  id: string;
  tenant: string;
  feedSeen: boolean;
  onLoaded(record: InvocationRecord): void;
}) {
  const session = useSession();
  const [record, setRecord] = useState<InvocationRecord | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    let live = true;
    setError(undefined);
    request<InvocationRecord>(
      session.key,
      'GET',
      `/v1/invocations/${encodeURIComponent(props.id)}${tenantQuery(session.principal, props.tenant)}`,
    ).then(
      (r) => {
        if (!live) return;
        setRecord(r.body);
        props.onLoaded(r.body);
      },
      (err: Error) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [props.id, props.feedSeen]);
  if (error) return <ErrorPanel error={error} title="This invocation cannot be shown" />;
  if (!record || record.id !== props.id) return <p class="muted detail-placeholder">Loading invocation…</p>;
  if (record.status === 'queued' || record.status === 'running')
    return (
      <p class="muted detail-placeholder" data-testid="invocation-pending">
        Invocation <code>{record.id}</code> is {record.status}; it appears here when it finishes.
      </p>
    );
  return (
    <div class="detail" data-testid="invocation-detail">
      {record.phases && (
        <Waterfall
          id={record.id}
          phases={record.phases}
          totalMs={record.totalMs}
          cold={record.cold}
          startPath={record.startPath}
        />
      )}
      <dl class="kv facts">
        <dt>id</dt>
        <dd>
          <code>{record.id}</code>
        </dd>
        <dt>version</dt>
        <dd>v{record.version}</dd>
        <dt>instance</dt>
        <dd>
          {record.instanceId ?? '—'} ({record.tier ?? '—'})
        </dd>
        {record.fetch && (
          <>
            <dt>image bytes</dt>
            <dd>
              {bytes(record.fetch.bytesFromSource)} from {record.fetch.source},{' '}
              {bytes(record.fetch.bytesFromCache)} from cache
            </dd>
          </>
        )}
      </dl>
      {record.error ? (
        <div class="error-panel" role="status">
          <strong>{record.error.code}</strong>
          <p>{record.error.message}</p>
        </div>
      ) : (
        <>
          <h3>Result</h3>
          <pre class="result-pre">
            {record.result !== undefined
              ? JSON.stringify(record.result, null, 2)
              : record.resultBytes !== undefined
                ? `(${bytes(record.resultBytes)}: too large to keep)`
                : 'null'}
          </pre>
        </>
      )}
      <h3>Logs</h3>
      {record.logs.length === 0 ? (
        <p class="muted">No console output.</p>
      ) : (
        <pre class="logs" data-testid="logs">
          {record.logs.map((l) => (
            <div class={`log ${l.level}`}>
              <span class="log-level">{l.level}</span> {l.msg}
            </div>
          ))}
        </pre>
      )}
      {record.logsDroppedBytes > 0 && (
        <p class="muted">{bytes(record.logsDroppedBytes)} of output dropped (limit reached).</p>
      )}
    </div>
  );
}
