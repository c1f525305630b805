/**
 * A dependency-free scatter plot in SVG: one panel per trace, cold-start % against wasted memory,
 * one labelled point per policy setting, so the Pareto front of the keep-alive policies can be seen.
 */

/** One point. */
export interface ParetoPoint {
  label: string;
  /** Series (policy family): points of a series share a colour. */
  series: string;
  x: number;
  y: number;
}

const COLORS: Record<string, string> = {
  fixed: '#495057',
  hybrid: '#1c7ed6',
  'greedy-dual': '#e67700',
  'cost-window': '#d9480f',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** One scatter panel, `width` × `height`. */
export function paretoPanel(
  title: string,
  xLabel: string,
  yLabel: string,
  points: ParetoPoint[],
  width = 560,
  height = 420,
): string {
  const pad = { top: 36, right: 150, bottom: 44, left: 56 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const maxX = Math.max(...points.map((p) => p.x), 1e-9) * 1.08;
  const maxY = Math.max(...points.map((p) => p.y), 1e-9) * 1.08;
  // Wasted memory spans orders of magnitude across policies (Greedy-Dual holds its whole budget):
  // a log axis then, so the keep-alive policies are not squeezed against the origin.
  const positive = points.map((p) => p.x).filter((x) => x > 0);
  const minX = Math.min(...positive, maxX);
  const logX = minX > 0 && maxX / minX > 20;
  const lo = logX ? Math.pow(10, Math.floor(Math.log10(minX))) : 0;
  const hi = logX ? Math.pow(10, Math.ceil(Math.log10(maxX))) : maxX;
  const sx = (x: number) =>
    pad.left +
    (logX ? (Math.log10(Math.max(x, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : x / maxX) *
      plotW;
  const sy = (y: number) => pad.top + plotH - (y / maxY) * plotH;
  const parts: string[] = [
    `<text x="${pad.left + plotW / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${pad.left + plotW / 2}" y="${height - 8}" text-anchor="middle" font-size="11">${esc(xLabel)}${logX ? ' — log scale' : ''}</text>`,
    `<text x="14" y="${pad.top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${pad.top + plotH / 2})" text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + plotH - (plotH * i) / 4;
    parts.push(
      `<line x1="${pad.left}" x2="${pad.left + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${pad.left - 6}" y="${y + 4}" text-anchor="end" font-size="10">${fmt((maxY * i) / 4)}</text>`,
    );
  }
  const xTicks = logX
    ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, i) => lo * Math.pow(10, i))
    : [0, 1, 2, 3, 4].map((i) => (maxX * i) / 4);
  for (const v of xTicks) {
    const x = sx(v);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${pad.top}" y2="${pad.top + plotH}" stroke="#eee"/>`,
      `<text x="${x}" y="${pad.top + plotH + 14}" text-anchor="middle" font-size="10">${fmt(v)}</text>`,
    );
  }
  for (const p of points) {
    const color = COLORS[p.series] ?? '#2b8a3e';
    parts.push(
      `<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="4" fill="${color}"><title>${esc(`${p.label}: ${fmt(p.x)} ${xLabel}, ${fmt(p.y)} ${yLabel}`)}</title></circle>`,
      `<text x="${sx(p.x) + 6}" y="${sy(p.y) - 4}" font-size="9" fill="${color}">${esc(p.label)}</text>`,
    );
  }
  Object.entries(COLORS).forEach(([name, color], i) => {
    const y = pad.top + 10 + i * 16;
    parts.push(
      `<circle cx="${pad.left + plotW + 20}" cy="${y - 4}" r="4" fill="${color}"/>`,
      `<text x="${pad.left + plotW + 30}" y="${y}" font-size="11">${esc(name)}</text>`,
    );
  });
  return `<g>${parts.join('')}</g>`;
}

/** Panels side by side in one SVG document. */
export function paretoDocument(panels: string[], panelW = 560, panelH = 420): string {
  const body = panels.map((p, i) => `<g transform="translate(${i * panelW},0)">${p}</g>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${panelW * panels.length}" height="${panelH}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/>${body}</svg>\n`;
}
