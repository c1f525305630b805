/**
 * An invocation's phases as a waterfall, as browser developer tools draw a request's network timing:
 * one row per phase, each bar starting where the previous one ended, on a shared time axis.
 * Phases a warm start skips (fetch, sandbox, runtime, init at 0) are listed as skipped.
 */
import { PHASE_DESCRIPTIONS, PHASES, type Phases } from '../api';
import { ms } from '../format';
import { ColdBadge } from './parts';

/** Axis ticks: about five round steps across `total`. */
function ticks(total: number): number[] {
  if (total <= 0) return [0];
  const raw = total / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = 0; v <= total + 1e-9; v += step) out.push(v);
  return out;
}

export function Waterfall(props: {
  phases: Phases;
  totalMs?: number;
  cold?: boolean;
  startPath?: string;
  id?: string;
}) {
  const sum = PHASES.reduce((a, p) => a + props.phases[p], 0);
  const total = Math.max(sum, props.totalMs ?? 0);
  let offset = 0;
  const rows = PHASES.map((phase) => {
    const d = props.phases[phase];
    const row = { phase, start: offset, d };
    offset += d;
    return row;
  });
  const pct = (v: number) => (total > 0 ? (100 * v) / total : 0);
  return (
    <figure
      class="waterfall"
      data-testid="waterfall"
      data-invocation={props.id}
      aria-label="Phases of the invocation"
    >
      <figcaption>
        <ColdBadge cold={props.cold} startPath={props.startPath} />{' '}
        <span class="total">{ms(props.totalMs ?? sum)} total</span>
      </figcaption>
      <div class="wf-grid" role="table" aria-label="phase timings">
        <div class="wf-lines" aria-hidden="true">
          {ticks(total).map((t) => (
            <span class="wf-line" style={{ left: `${pct(t)}%` }} />
          ))}
        </div>
        <div class="wf-row wf-axis" role="row" aria-hidden="true">
          <span class="wf-name" />
          <span class="wf-track">
            {ticks(total).map((t) => (
              <span class="wf-tick" style={{ left: `${pct(t)}%` }}>
                {t === 0 ? '0' : t >= 1000 ? ms(t) : `${+t.toPrecision(3)} ms`}
              </span>
            ))}
          </span>
          <span class="wf-dur" />
        </div>
        {rows.map((r) => (
          <div
            class={`wf-row${r.d === 0 ? ' skipped' : ''}`}
            role="row"
            data-phase={r.phase}
            data-ms={String(r.d)}
            title={`${r.phase}: ${PHASE_DESCRIPTIONS[r.phase]}`}
          >
            <span class="wf-name" role="rowheader">
              {r.phase}
            </span>
            <span class="wf-track" role="cell">
              {r.d > 0 && (
                <span
                  class={`wf-bar ph-${r.phase}`}
                  style={{ left: `${pct(r.start)}%`, width: `max(2px, ${pct(r.d)}%)` }}
                />
              )}
            </span>
            <span class="wf-dur" role="cell">
              {r.d === 0
                ? props.cold === false && r.phase !== 'queue' && r.phase !== 'place'
                  ? 'skipped'
                  : '0'
                : ms(r.d)}
            </span>
          </div>
        ))}
      </div>
      <details class="wf-legend">
        <summary>What the phases mean</summary>
        <dl class="kv">
          {PHASES.map((p) => (
            <>
              <dt>
                <span class={`wf-swatch ph-${p}`} aria-hidden="true" /> {p}
              </dt>
              <dd>{PHASE_DESCRIPTIONS[p]}</dd>
            </>
          ))}
        </dl>
        <p class="muted small">A warm start has only queue, place and exec.</p>
      </details>
    </figure>
  );
}
