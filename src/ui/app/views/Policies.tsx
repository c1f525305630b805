/**
 * Keep-alive policies: for each function the policy in force and its current decision; for
 * hybrid-histogram, the idle-time histogram and the windows it chose.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { request, tenantQuery } from '../api';
import { duration } from '../format';
import { BASE, type Route } from '../router';
import { useSession } from '../session';
import { Histogram } from './Histogram';
import { ErrorPanel, Head, Pager } from './parts';

interface PolicyState {
  tenant: string;
  function: string;
  version: number;
  policy: string;
  keepAliveMs: number;
  prewarmMs: number;
  decision?: { mode: string; prewarmMs: number; keepAliveMs: number; reason: string };
  histogram?: { binMs: number; counts: number[]; outOfRange: number; total: number; cv: number };
}

const PAGE = 50;

function policyHref(p: { tenant: string; function: string }): string {
  return `${BASE}/policies?function=${encodeURIComponent(p.function)}&tenant=${encodeURIComponent(p.tenant)}`;
}

export function Policies(props: { route: Route }) {
  const session = useSession();
  const [list, setList] = useState<PolicyState[] | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [page, setPage] = useState(0);
  const selected = props.route.query.get('function') ?? undefined;
  const tenant = props.route.query.get('tenant') ?? session.principal.tenant;
  useEffect(() => {
    request<{ policies: PolicyState[] }>(session.key, 'GET', '/v1/ui/policies').then(
      (r) => setList(r.body.policies),
      (err: Error) => setError(err),
    );
  }, []);
  const shown = useMemo(() => list?.slice(page * PAGE, (page + 1) * PAGE) ?? [], [list, page]);
  return (
    <div class="view">
      <h1>Keep-alive policies</h1>
      <p class="muted">
        How long an idle instance stays warm. <code>fixed</code> keeps it for the function's{' '}
        <code>keepAliveMs</code>; <code>hybrid-histogram</code> (Shahrad et al., ATC'20) learns the function's
        idle times and picks the windows from their histogram.
      </p>
      {selected && <PolicyDetail name={selected} tenant={tenant} />}
      <section class="card">
        <h2>Functions</h2>
        {error && <ErrorPanel error={error} />}
        {!list && !error && <p class="muted table-placeholder">Loading…</p>}
        {list && list.length === 0 && (
          <p class="empty">
            No functions yet: deploy one with <code>npx kindling deploy ./my-fn --name my-fn</code>.
          </p>
        )}
        {list && list.length > 0 && (
          <>
            <div class="table-wrap">
              <table data-testid="policies-table">
                <Head
                  cols={['function', 'policy', 'mode', ['keep warm for', 'num'], ['pre-warm after', 'num']]}
                />
                <tbody>
                  {shown.map((p) => (
                    <tr data-function={p.function}>
                      <td>
                        <a href={policyHref(p)}>
                          {session.principal.role === 'admin' ? `${p.tenant}/` : ''}
                          {p.function}
                        </a>
                      </td>
                      <td>{p.policy}</td>
                      <td>{p.decision?.mode ?? '—'}</td>
                      <td class="num">{duration(p.keepAliveMs)}</td>
                      <td class="num">{p.prewarmMs ? duration(p.prewarmMs) : '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {list.length > PAGE && (
              <Pager label="Policy pages" page={page} size={PAGE} total={list.length} onPage={setPage} />
            )}
          </>
        )}
      </section>
    </div>
  );
}

function PolicyDetail(props: { name: string; tenant: string }) {
  const session = useSession();
  const [state, setState] = useState<PolicyState | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    setState(undefined);
    setError(undefined);
    request<PolicyState>(
      session.key,
      'GET',
      `/v1/functions/${encodeURIComponent(props.name)}/policy${tenantQuery(session.principal, props.tenant)}`,
    ).then(
      (r) => setState(r.body),
      (err: Error) => setError(err),
    );
  }, [props.name, props.tenant]);
  return (
    <section class="card" data-testid="policy-detail" aria-labelledby="policy-heading">
      <h2 id="policy-heading">{props.name}</h2>
      {error && <ErrorPanel error={error} title="No policy to show" />}
      {!state && !error && <p class="muted">Loading…</p>}
      {state && (
        <>
          <dl class="kv">
            <dt>policy in force</dt>
            <dd>{state.policy}</dd>
            <dt>keep warm for</dt>
            <dd>{duration(state.keepAliveMs)} after an instance goes idle</dd>
            <dt>pre-warm</dt>
            <dd>
              {state.prewarmMs
                ? `unload, load again after ${duration(state.prewarmMs)}`
                : 'none (kept warm from idle)'}
            </dd>
            {state.decision && (
              <>
                <dt>mode</dt>
                <dd>
                  {state.decision.mode}: {state.decision.reason}
                </dd>
              </>
            )}
          </dl>
          {state.policy === 'hybrid-histogram' &&
            (state.histogram ? (
              <>
                <Histogram
                  counts={state.histogram.counts}
                  binMs={state.histogram.binMs}
                  prewarmMs={state.prewarmMs}
                  keepAliveMs={state.keepAliveMs}
                />
                <p class="muted small">
                  {state.histogram.total} idle times recorded, {state.histogram.outOfRange} beyond the
                  histogram's range; bin-count CV {state.histogram.cv.toFixed(2)}.
                </p>
              </>
            ) : (
              <p class="muted">No idle times recorded yet: the histogram fills as the function is invoked.</p>
            ))}
          {state.policy === 'fixed' && (
            <p class="muted">
              A fixed window learns nothing, so there is no histogram. Deploy with{' '}
              <code>"keepAlivePolicy": "hybrid-histogram"</code> in <code>kindling.json</code> to let it
              adapt.
            </p>
          )}
        </>
      )}
    </section>
  );
}
