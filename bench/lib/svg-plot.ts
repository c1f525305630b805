/** A dependency-free grouped bar chart in SVG, for benchmark results. */

export interface BarGroup {
  label: string;
  bars: { name: string; value: number }[];
}

const COLORS = ['#d9480f', '#1c7ed6', '#2b8a3e', '#862e9c', '#e67700', '#495057', '#0b7285'];
/** One colour per series name across every chart of a run, so "kindling" looks the same in each panel. */
const assigned = new Map<string, string>();
function colorOf(name: string): string {
  let color = assigned.get(name);
  if (!color) {
    color = COLORS[assigned.size % COLORS.length]!;
    assigned.set(name, color);
  }
  return color;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One panel: groups of bars sharing a y axis. */
export function barChart(title: string, unit: string, groups: BarGroup[], width = 460, height = 300): string {
  const pad = { top: 36, right: 12, bottom: 56, left: 56 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value)), 1e-9) * 1.15;
  const names = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.name)))];
  const groupW = plotW / groups.length;
  const barW = Math.min(40, (groupW * 0.8) / names.length);
  const parts: string[] = [];
  parts.push(
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
  );
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = pad.top + plotH - (plotH * i) / 4;
    parts.push(`<line x1="${pad.left}" x2="${width - pad.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${pad.left - 6}" y="${y + 4}" text-anchor="end" font-size="10">${v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2)}</text>`,
    );
  }
  parts.push(
    `<text x="14" y="${pad.top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${pad.top + plotH / 2})" text-anchor="middle">${esc(unit)}</text>`,
  );
  groups.forEach((g, gi) => {
    const x0 = pad.left + gi * groupW + (groupW - barW * g.bars.length) / 2;
    g.bars.forEach((b, bi) => {
      const h = (b.value / max) * plotH;
      const x = x0 + bi * barW;
      const color = colorOf(b.name);
      parts.push(
        `<rect x="${x}" y="${pad.top + plotH - h}" width="${barW - 2}" height="${h}" fill="${color}"><title>${esc(`${b.name}: ${b.value.toFixed(2)} ${unit}`)}</title></rect>`,
      );
      parts.push(
        `<text x="${x + barW / 2 - 1}" y="${pad.top + plotH - h - 3}" text-anchor="middle" font-size="9">${b.value >= 100 ? b.value.toFixed(0) : b.value.toFixed(b.value >= 10 ? 1 : 2)}</text>`,
      );
    });
    parts.push(
      `<text x="${pad.left + gi * groupW + groupW / 2}" y="${pad.top + plotH + 16}" text-anchor="middle" font-size="11">${esc(g.label)}</text>`,
    );
  });
  names.forEach((n, i) => {
    const x = pad.left + i * 130;
    parts.push(`<rect x="${x}" y="${height - 18}" width="10" height="10" fill="${colorOf(n)}"/>`);
    parts.push(`<text x="${x + 14}" y="${height - 9}" font-size="11">${esc(n)}</text>`);
  });
  return `<g>${parts.join('')}</g>`;
}

/** Lays panels side by side in one SVG document. */
export function svgDocument(panels: string[], panelW = 460, panelH = 300): string {
  const body = panels.map((p, i) => `<g transform="translate(${i * panelW},0)">${p}</g>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${panelW * panels.length}" height="${panelH}" font-family="sans-serif" style="background:#fff"><rect width="100%" height="100%" fill="#fff"/>${body}</svg>\n`;
}

/** One horizontal bar per item, labels on the left: for many categories with long names. */
export function hbarChart(
  title: string,
  unit: string,
  items: { label: string; value: number; series: string }[],
  width = 640,
  height = 300,
): string {
  const pad = { top: 32, right: 56, bottom: 28, left: 220 };
  const plotW = width - pad.left - pad.right;
  const rowH = (height - pad.top - pad.bottom) / Math.max(1, items.length);
  const max = Math.max(...items.map((i) => i.value), 1e-9) * 1.05;
  const parts: string[] = [
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${pad.left + plotW / 2}" y="${height - 8}" text-anchor="middle" font-size="11">${esc(unit)}</text>`,
  ];
  items.forEach((item, i) => {
    const y = pad.top + i * rowH;
    const w = (item.value / max) * plotW;
    parts.push(
      `<text x="${pad.left - 6}" y="${y + rowH / 2 + 4}" text-anchor="end" font-size="11">${esc(item.label)}</text>`,
      `<rect x="${pad.left}" y="${y + rowH * 0.15}" width="${w}" height="${rowH * 0.7}" fill="${colorOf(item.series)}"><title>${esc(`${item.label}: ${item.value} ${unit}`)}</title></rect>`,
      `<text x="${pad.left + w + 4}" y="${y + rowH / 2 + 4}" font-size="10">${item.value >= 100 ? item.value.toFixed(0) : item.value.toFixed(item.value >= 10 ? 1 : 2)}</text>`,
    );
  });
  return `<g>${parts.join('')}</g>`;
}

/** One line per series over a numeric x axis (log2 when `log2x`), with a point and value at each x. */
export function lineChart(
  title: string,
  xLabel: string,
  unit: string,
  series: { name: string; points: { x: number; y: number }[] }[],
  opts: { width?: number; height?: number; log2x?: boolean } = {},
): string {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const pad = { top: 36, right: 16, bottom: 64, left: 56 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const fx = (x: number) => (opts.log2x ? Math.log2(x) : x);
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const [x0, x1] = [fx(xs[0] ?? 0), fx(xs[xs.length - 1] ?? 1)];
  const maxY = Math.max(...series.flatMap((s) => s.points.map((p) => p.y)), 1e-9) * 1.15;
  const px = (x: number) => pad.left + (x1 === x0 ? plotW / 2 : ((fx(x) - x0) / (x1 - x0)) * plotW);
  const py = (y: number) => pad.top + plotH - (y / maxY) * plotH;
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(v >= 10 ? 1 : 2));
  const parts: string[] = [
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="14" y="${pad.top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${pad.top + plotH / 2})" text-anchor="middle">${esc(unit)}</text>`,
    `<text x="${pad.left + plotW / 2}" y="${pad.top + plotH + 32}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (maxY * i) / 4;
    parts.push(
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/>`,
      `<text x="${pad.left - 6}" y="${py(v) + 4}" text-anchor="end" font-size="10">${fmt(v)}</text>`,
    );
  }
  for (const x of xs) {
    parts.push(
      `<text x="${px(x)}" y="${pad.top + plotH + 16}" text-anchor="middle" font-size="11">${x}</text>`,
    );
  }
  for (const s of series) {
    const color = colorOf(s.name);
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p.x)},${py(p.y)}`).join(' ')}"/>`,
    );
    for (const p of pts) {
      parts.push(
        `<circle cx="${px(p.x)}" cy="${py(p.y)}" r="3" fill="${color}"><title>${esc(`${s.name}, ${p.x}: ${fmt(p.y)} ${unit}`)}</title></circle>`,
      );
    }
  }
  series.forEach((s, i) => {
    const x = pad.left + (i % 4) * 150;
    const y = height - 18 + Math.floor(i / 4) * 14 - 8;
    parts.push(`<rect x="${x}" y="${y}" width="10" height="10" fill="${colorOf(s.name)}"/>`);
    parts.push(`<text x="${x + 14}" y="${y + 9}" font-size="11">${esc(s.name)}</text>`);
  });
  return `<g>${parts.join('')}</g>`;
}
