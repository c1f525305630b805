/** Overview: the tenant's functions with live activity, invocation rate, cold-start rate, latency and instances. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FunctionSummary } from '../api';
import { request } from '../api';
import { ms, percent } from '../format';
import { functionHref } from '../router';
import { useFeed, useSession } from '../session';
import { ErrorPanel, Head, Pager, Stat } from './parts';
import { InstancesTable } from './InstancesTable';
import { TimeChart } from './TimeChart';

const PAGE = 50;

/** The functions this key may see (every tenant's for an admin); refetched when the feed shows a new one. */
export function useFunctions(): { functions?: FunctionSummary[]; error?: Error } {
  const session = useSession();
  const feed = useFeed();
  const [state, setState] = useState<{ functions?: FunctionSummary[]; error?: Error }>({});
  const [reload, setReload] = useState(0);
  const lastLoad = useRef(0);
  useEffect(() => {
    let live = true;
    lastLoad.current = Date.now();
    const all = session.principal.role === 'admin' ? '?all=1' : '';
    request<{ functions: FunctionSummary[] }>(session.key, 'GET', `/v1/functions${all}`).then(
      (r) => live && setState({ functions: r.body.functions }),
      (err: Error) => live && setState({ error: err }),
    );
    return () => {
      live = false;
    };
  }, [reload]);
  // A function active in the feed but not in the list was deployed since: load the list again (at
  // most every 5 s, and once per such function: one deleted since stays in the minute's counts).
  const known = useMemo(
    () => new Set(state.functions?.map((f) => `${f.tenant}/${f.name}`)),
    [state.functions],
  );
  const asked = useRef(new Set<string>());
  useEffect(() => {
    if (!state.functions || !feed.last || Date.now() - lastLoad.current <= 5000) return;
    const unknown = Object.keys(feed.last.functions).filter((k) => !known.has(k) && !asked.current.has(k));
    if (unknown.length === 0) return;
    for (const k of unknown) asked.current.add(k);
    setReload((n) => n + 1);
  }, [feed.version]);
  return state;
}

export function Overview() {
  const session = useSession();
  const feed = useFeed();
  const { functions, error } = useFunctions();
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<'name' | 'activity'>('name');
  const [page, setPage] = useState(0);
  const admin = session.principal.role === 'admin';
  const tick = feed.last;
  const activity = tick?.functions ?? {};

  const rows = useMemo(() => {
    if (!functions) return [];
    const f = filter.trim().toLowerCase();
    const list = f ? functions.filter((x) => `${x.tenant}/${x.name}`.includes(f)) : [...functions];
    if (sort === 'activity')
      list.sort(
        (a, b) =>
          (activity[`${b.tenant}/${b.name}`]?.[0] ?? 0) - (activity[`${a.tenant}/${a.name}`]?.[0] ?? 0),
      );
    return list;
  }, [functions, filter, sort, sort === 'activity' ? feed.version : 0]);
  const shown = rows.slice(page * PAGE, page * PAGE + PAGE);
  useEffect(() => setPage(0), [filter, sort]);

  const s = feed.series;
  const rateData = useMemo(() => [s.t, s.rate, s.cold], [feed.version]);
  const latencyData = useMemo(() => [s.t, s.p50, s.p99], [feed.version]);
  const w = tick?.window;

  return (
    <div class="view">
      <h1>Overview</h1>
      <section class="stats" aria-label="Live figures">
        <Stat label="functions" value={functions ? String(functions.length) : '…'} />
        <Stat
          label="invocations / s"
          value={tick ? (tick.invocations / (tick.tickMs / 1000)).toFixed(1) : '…'}
          testid="rate"
        />
        <Stat
          label="cold-start rate (1 min)"
          value={w ? percent(w.cold, w.invocations) : '…'}
          testid="cold-rate"
        />
        <Stat label="latency p50 (1 min)" value={w ? (w.invocations ? ms(w.p50) : '—') : '…'} testid="p50" />
        <Stat label="latency p99 (1 min)" value={w ? (w.invocations ? ms(w.p99) : '—') : '…'} testid="p99" />
      </section>
      <div class="grid2">
        <section class="card">
          <TimeChart
            title="Invocations per second"
            unit="/s"
            series={[
              { label: 'all', color: '--c-total' },
              { label: 'cold starts', color: '--c-cold' },
            ]}
            data={rateData}
          />
        </section>
        <section class="card">
          <TimeChart
            title="Latency over the last minute"
            unit=" ms"
            series={[
              { label: 'p50', color: '--c-warm' },
              { label: 'p99', color: '--c-cold' },
            ]}
            data={latencyData}
          />
        </section>
      </div>
      <section class="card">
        <h2>Instances by tier and state</h2>
        <InstancesTable counts={tick?.instances} />
      </section>
      <section class="card" aria-labelledby="fn-heading">
        <div class="section-head">
          <h2 id="fn-heading">Functions</h2>
          <div class="controls">
            <label>
              <span class="sr-only">Filter functions</span>
              <input
                type="search"
                placeholder="Filter by name"
                value={filter}
                onInput={(e) => setFilter((e.target as HTMLInputElement).value)}
              />
            </label>
            <label>
              Sort{' '}
              <select
                value={sort}
                onChange={(e) => setSort((e.target as HTMLSelectElement).value as 'name' | 'activity')}
              >
                <option value="name">by name</option>
                <option value="activity">by activity</option>
              </select>
            </label>
          </div>
        </div>
        {error ? (
          <ErrorPanel error={error} />
        ) : !functions ? (
          <p class="muted table-placeholder">Loading functions…</p>
        ) : functions.length === 0 ? (
          <div class="empty" data-testid="empty-functions">
            <p>
              <strong>No functions yet{admin ? '' : ` in tenant ${session.principal.tenant}`}.</strong> Deploy
              one from a directory with an <code>index.ts</code> or <code>index.js</code>:
            </p>
            <pre>
              <code>{`KINDLING_URL=${location.origin} KINDLING_API_KEY=<your key> \\
  npx kindling deploy ./my-fn --name my-fn`}</code>
            </pre>
            <p class="muted">It appears here as soon as it is invoked, or when you reload.</p>
          </div>
        ) : (
          <>
            <div class="table-wrap">
              <table class="functions" data-testid="functions-table">
                <Head
                  cols={[
                    'function',
                    ...(admin ? ['tenant'] : []),
                    'version',
                    'tier',
                    ['invocations (1 min)', 'num'],
                    ['cold', 'num'],
                    ['errors', 'num'],
                  ]}
                />
                <tbody>
                  {shown.map((f) => {
                    const a = activity[`${f.tenant}/${f.name}`];
                    return (
                      <tr key={`${f.tenant}/${f.name}`} data-function={f.name}>
                        <td>
                          <a
                            href={functionHref(
                              f.name,
                              admin && f.tenant !== session.principal.tenant ? f.tenant : undefined,
                            )}
                          >
                            {f.name}
                          </a>
                        </td>
                        {admin && <td>{f.tenant}</td>}
                        <td>v{f.latestVersion}</td>
                        <td>{f.config.tier}</td>
                        <td class="num">{a?.[0] ?? 0}</td>
                        <td class="num">{a?.[1] ?? 0}</td>
                        <td class="num">{a?.[2] ?? 0}</td>
                      </tr>
                    );
                  })}
                  {shown.length === 0 && (
                    <tr>
                      <td colSpan={admin ? 7 : 6} class="muted">
                        No function matches “{filter}”.
                      </td>
                    </tr>
                  )}
                </tbody>
              </table>
            </div>
            <Pager label="Function pages" page={page} size={PAGE} total={rows.length} onPage={setPage} />
          </>
        )}
      </section>
    </div>
  );
}
