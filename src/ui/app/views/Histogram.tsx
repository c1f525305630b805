/**
 * An idle-time histogram (hybrid-histogram policy) as SVG bars, with the chosen windows drawn over it:
 * the pre-warm point (head) and the keep-alive end (tail).
 */
import { duration } from '../format';

export function Histogram(props: {
  counts: number[];
  binMs: number;
  prewarmMs: number;
  keepAliveMs: number;
}) {
  // Show the bins up to a little past the last non-empty one or the keep-alive end, whichever is later.
  let last = 0;
  props.counts.forEach((c, i) => {
    if (c > 0) last = i;
  });
  const shown = Math.min(
    props.counts.length,
    Math.max(10, last + 3, Math.ceil(props.keepAliveMs / props.binMs) + 2),
  );
  const counts = props.counts.slice(0, shown);
  const max = Math.max(1, ...counts);
  const W = 600;
  const H = 160;
  const bw = W / shown;
  const x = (msv: number) => Math.min(W, (msv / props.binMs + 0.5) * bw);
  return (
    <figure class="histogram">
      <svg
        viewBox={`0 0 ${W} ${H + 20}`}
        role="img"
        aria-label={`idle-time histogram, ${shown} bins of ${duration(props.binMs)}`}
      >
        {counts.map((c, i) => (
          <rect
            class="hist-bar"
            x={i * bw + 1}
            width={Math.max(1, bw - 2)}
            y={H - (H * c) / max}
            height={(H * c) / max}
          >
            <title>
              {duration(i * props.binMs)}: {c}
            </title>
          </rect>
        ))}
        <rect
          class="hist-window"
          x={x(props.prewarmMs)}
          width={Math.max(1, x(props.keepAliveMs) - x(props.prewarmMs))}
          y={0}
          height={H}
        />
        <line class="hist-axis" x1={0} x2={W} y1={H} y2={H} />
        <text x={0} y={H + 15} class="hist-label">
          0
        </text>
        <text x={W} y={H + 15} class="hist-label" text-anchor="end">
          {duration(shown * props.binMs)}
        </text>
      </svg>
      <figcaption class="muted small">
        Idle times between invocations, {duration(props.binMs)} bins. Shaded: kept warm from{' '}
        {duration(props.prewarmMs)} to {duration(props.keepAliveMs)} after an instance goes idle.
      </figcaption>
    </figure>
  );
}
