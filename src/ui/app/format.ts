/** Number and time formatting shared by the views. */

export function ms(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '—';
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

export function bytes(v: number): string {
  if (v >= 1024 ** 3) return `${(v / 1024 ** 3).toFixed(1)} GiB`;
  if (v >= 1024 ** 2) return `${(v / 1024 ** 2).toFixed(1)} MiB`;
  if (v >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${v} B`;
}

export function duration(v: number): string {
  if (v >= 3_600_000) return `${+(v / 3_600_000).toFixed(1)} h`;
  if (v >= 60_000) return `${+(v / 60_000).toFixed(1)} min`;
  if (v >= 1000) return `${+(v / 1000).toFixed(1)} s`;
  return `${v} ms`;
}

export function time(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString(undefined, { hour12: false });
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? '—' : `${((100 * part) / whole).toFixed(part === whole || part === 0 ? 0 : 1)}%`;
}
