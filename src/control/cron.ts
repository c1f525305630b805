/**
 * Cron expressions of scheduled triggers, always in UTC: five fields (minute hour day-of-month month
 * day-of-week), six with seconds first, or a nickname (`@hourly`, `@daily`, `@weekly`, `@monthly`,
 * `@yearly`). Parsing and calendar arithmetic are croner's; which forms are accepted, the time zone,
 * and the rule that a schedule must fire at all are Kindling's.
 */
import { Cron } from 'croner';

/** A parsed expression: when it fires next. */
export interface CronSchedule {
  readonly expression: string;
  /** The first time it fires strictly after `afterMs` (epoch ms), or undefined if it never does. */
  next(afterMs: number): number | undefined;
}

const NICKNAMES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

export const CRON_HELP =
  'write five fields (minute hour day-of-month month day-of-week, in UTC), six with seconds first, or @hourly/@daily/@weekly/@monthly/@yearly, e.g. "*/5 * * * *"';

/** Parses `expression`; throws an Error whose message says what is wrong and how to write it. */
export function parseCron(expression: string): CronSchedule {
  const parsed = tryParse(expression);
  if (typeof parsed === 'string') throw new Error(`schedule "${expression}" ${parsed}`);
  return parsed;
}

/**
 * Why `expression` is refused, as a predicate (`is not a cron expression (…); write …`), or
 * undefined when it parses.
 */
export function cronProblem(expression: string): string | undefined {
  const parsed = tryParse(expression);
  return typeof parsed === 'string' ? parsed : undefined;
}

function tryParse(expression: string): CronSchedule | string {
  const text = expression.trim();
  const fields = text === '' ? 0 : text.split(/\s+/).length;
  if (!(NICKNAMES.has(text.toLowerCase()) || fields === 5 || fields === 6))
    return `has ${fields} field${fields === 1 ? '' : 's'}; ${CRON_HELP}`;
  let cron: Cron;
  try {
    cron = new Cron(text, { paused: true, timezone: 'Etc/UTC' });
  } catch (err) {
    const why = (err as Error).message.replace(/^CronPattern:\s*/, '');
    return `is not a cron expression (${lowerFirst(why)}); ${CRON_HELP}`;
  }
  const schedule: CronSchedule = {
    expression: text,
    next(afterMs) {
      return cron.nextRun(new Date(afterMs))?.getTime();
    },
  };
  // Such as "0 0 31 2 *" (February 31st): valid fields, no date.
  if (schedule.next(Date.UTC(2000, 0, 1)) === undefined)
    return 'matches no date: no day satisfies all of its fields';
  return schedule;
}

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);
