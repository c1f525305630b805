/** Human output for the CLI: tables, durations, sizes and the cold-start breakdown. */
import { PHASES, type Phase } from '../core/phases.js';

/** A plain aligned table. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatAge(epochMs: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - epochMs) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** Parses a `Server-Timing` header into name → milliseconds. */
export function parseServerTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*;.*?dur=([\d.]+)/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** The phases as bars, one line each, scaled to the longest phase. */
export function phaseBars(phases: Partial<Record<Phase, number>>, width = 30): string {
  const max = Math.max(...PHASES.map((p) => phases[p] ?? 0), 0.001);
  return PHASES.map((p) => {
    const v = phases[p] ?? 0;
    const bar = v > 0 ? '█'.repeat(Math.max(1, Math.round((v / max) * width))) : '';
    return `  ${p.padEnd(8)}${formatMs(v).padStart(10)}  ${bar}`;
  }).join('\n');
}

/**
 * A message as one line: its lines trimmed and joined with "; " (a line that opens with "(", such as
 * commander's "(Did you mean …?)", or follows one that ends with ":", joins with a space). Errors are one line on stderr even when they
 * carry text from elsewhere, such as `JSON.stringify`'s three-line account of a cycle.
 */
export function oneLine(message: string): string {
  return message
    .split(/\r?\n|\r/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .reduce((out, line) => (out === '' ? line : `${out}${joiner(out, line)}${line}`), '');
}

/**
 * What joins two lines of a message on one: a space after a colon (`failed with 1 error: index.js…`)
 * or before a parenthesis, `; ` otherwise.
 */
function joiner(before: string, line: string): string {
  return before.endsWith(':') || line.startsWith('(') ? ' ' : '; ';
}
