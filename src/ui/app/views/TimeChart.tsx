/**
 * A uPlot chart in a box of fixed height (so nothing moves when data arrives), sized to its container's
 * width. `data` is uPlot's column format: x values first, then one array per series.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  /** A CSS variable name holding the colour, e.g. `--c-cold`. */
  color: string;
  /** Points only (no line), for scatter plots. */
  points?: boolean;
}

/** The system's colour scheme, following changes (charts read their colours when created). */
function useColorScheme(): 'dark' | 'light' {
  const query = window.matchMedia('(prefers-color-scheme: dark)');
  const [dark, setDark] = useState(query.matches);
  useEffect(() => {
    const update = () => setDark(query.matches);
    query.addEventListener('change', update);
    return () => query.removeEventListener('change', update);
  }, []);
  return dark ? 'dark' : 'light';
}

/**
 * Sets the x range to the data, at least a minute wide: uPlot's own ranging hides the axis for a
 * single point, and stretches one over years.
 */
function showWindow(u: uPlot, data: (number | null)[][]): void {
  const xs = data[0] ?? [];
  const hi = xs.at(-1) ?? Date.now() / 1000;
  u.setScale('x', { min: Math.min(xs[0] ?? hi, hi - 60), max: hi + 1 });
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function TimeChart(props: {
  title: string;
  series: ChartSeries[];
  data: (number | null)[][];
  height?: number;
  unit?: string;
  /** x values are epoch seconds (default) or plain numbers. */
  time?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const height = props.height ?? 180;
  const scheme = useColorScheme();

  useEffect(() => {
    const el = box.current!;
    const axisColor = cssVar('--muted');
    const grid = { stroke: cssVar('--grid'), width: 1 };
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      scales: {
        x: {
          time: props.time ?? true,
        },
      },
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      axes: [
        {
          stroke: axisColor,
          grid,
          ticks: grid,
          // Whole seconds as wall-clock times: the feed ticks once a second.
          ...((props.time ?? true)
            ? {
                space: 70,
                incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
                values: (_u: uPlot, vals: number[]) =>
                  vals.map((v) => new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })),
              }
            : {}),
        },
        {
          stroke: axisColor,
          grid,
          ticks: grid,
          size: 68,
          values: (_u, vals) => vals.map((v) => `${+v.toFixed(2)}${props.unit ?? ''}`),
        },
      ],
      series: [
        {},
        ...props.series.map((s) => ({
          label: s.label,
          stroke: cssVar(s.color),
          width: s.points ? 0 : 2,
          ...(s.points
            ? {
                paths: () => null,
                points: { show: true, size: 7, fill: cssVar(s.color), stroke: cssVar(s.color) },
              }
            : { points: { show: false } }),
        })),
      ],
    };
    const u = new uPlot(opts, props.data as uPlot.AlignedData, el);
    plot.current = u;
    showWindow(u, props.data);
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = undefined;
    };
  }, [props.series.map((s) => s.label).join(), scheme]);

  useEffect(() => {
    const u = plot.current;
    if (!u) return;
    u.setData(props.data as uPlot.AlignedData);
    showWindow(u, props.data);
  }, [props.data]);

  return (
    <figure class="chart" aria-label={props.title}>
      <figcaption>{props.title}</figcaption>
      <div ref={box} class="chart-box" style={{ minHeight: `${height + 40}px` }} />
    </figure>
  );
}
