/** Durations on the command line: `90s`, `30m`, `1h`, `2d`, `500ms` or `0`. */
import { CliError } from './cli-error.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `text` as milliseconds, at most `max.ms` (`max.text` says it); a CliError naming `flag` otherwise. */
export function parseDuration(text: string, flag: string, max: { ms: number; text: string }): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m || (m[2] === undefined && Number(m[1]) !== 0))
    throw new CliError(`invalid ${flag} ${JSON.stringify(text)}: use a duration such as 30m, 1h or 0`);
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!);
  if (ms > max.ms) throw new CliError(`${flag} ${text} is longer than the ${max.text} allowed`);
  return ms;
}
