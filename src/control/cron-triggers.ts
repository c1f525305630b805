/**
 * Scheduled triggers. A function whose latest version has a `schedule` (cron expressions, UTC) is
 * invoked at each time they name, asynchronously, through the durable queue: an invocation in mode
 * `schedule` whose event is `{ type: "schedule", cron, scheduledTime }` (as Cloudflare's Cron
 * Triggers hand a `ScheduledEvent`).
 *
 * Each tick is enqueued once: the last tick of each expression is stored, and the tick and its
 * invocation are committed in one transaction, so a restart neither repeats nor loses a tick that
 * was enqueued (the queue then runs it at least once). Ticks that pass while the platform is down,
 * or while this process is too busy to take its timer, are skipped, not run late in a burst (as
 * EventBridge and Cloudflare do); the next one is on time. One timer covers every schedule, woken at
 * least hourly. Clock-driven, so tests move time by hand.
 *
 * A tick is an arrival known in advance, so it need not be a cold start: `prewarmLeadMs` before it
 * (10 s by default) an instance of the latest version is started where placement would put the
 * invocation, unless one is loaded there, and held idle until shortly after the tick; the policy
 * then treats it like any other. Schedules whose ticks come closer together than the lead are not
 * pre-warmed.
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { uuidv7 } from '../core/ids.js';
import type { AsyncDispatcher } from './async-dispatcher.js';
import { parseCron, type CronSchedule } from './cron.js';
import type { Db } from './db.js';
import type { FunctionStore } from './functions.js';
import type { InvocationStore } from './invocations.js';

/** The event a scheduled invocation receives. */
export interface ScheduledEvent {
  type: 'schedule';
  /** The expression that fired, as configured. */
  cron: string;
  /** The tick it fired for, ISO 8601 (UTC). */
  scheduledTime: string;
}

/** One expression of a function, as `GET /v1/functions/{name}` shows it. */
export interface ScheduleState {
  cron: string;
  /** Epoch ms of the next tick, undefined if it has none left. */
  nextRun: number | undefined;
  /** Epoch ms of the last tick enqueued, undefined if none was. */
  lastRun: number | undefined;
}

interface Entry {
  tenant: string;
  name: string;
  schedule: CronSchedule;
  next: number | undefined;
  /** The tick before `next` (fired, stored, or the moment the schedule was loaded). */
  prev: number;
  /** The tick an instance was pre-warmed for. */
  prewarmedFor: number | undefined;
  /** After a failed enqueue (the database refused): when to try the same tick again. */
  retryAt: number | undefined;
}

/** How long after a failed enqueue the same tick is tried again (until the next tick is due). */
const RETRY_MS = 1_000;

/** How long before a tick an instance is pre-warmed, by default. */
export const DEFAULT_PREWARM_LEAD_MS = 10_000;

/** The longest the timer sleeps: a wall clock that jumps is noticed within it. */
const MAX_SLEEP_MS = 60 * 60_000;

export class CronTriggers {
  /** By `tenant/name`. */
  private readonly entries = new Map<string, Entry[]>();
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly lastTick;
  private readonly saveTick;

  constructor(
    private readonly deps: {
      db: Db;
      functions: FunctionStore;
      invocations: InvocationStore;
      /** Woken for each invocation enqueued. */
      dispatcher: Pick<AsyncDispatcher, 'accepted'>;
      clock: Clock;
      /**
       * Starts an instance of the function's latest version ahead of a tick, `prewarmLeadMs` before
       * it (a tick is an arrival known in advance: it need not be a cold start). Absent: no pre-warm.
       */
      prewarm?(tenant: string, name: string): void;
      /** How long before a tick to pre-warm (default 10 s); ticks closer together than this are not. */
      prewarmLeadMs?: number;
      onError(err: unknown): void;
    },
  ) {
    this.lastTick = deps.db.prepare(
      'SELECT last_tick FROM schedule_ticks WHERE tenant_id = ? AND name = ? AND cron = ?',
    );
    this.saveTick = deps.db.prepare(
      `INSERT INTO schedule_ticks (tenant_id, name, cron, last_tick) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, name, cron) DO UPDATE SET last_tick = excluded.last_tick`,
    );
  }

  /** Loads every function's schedules and starts the timer; follows deploys and deletes from then on. */
  start(): void {
    this.unsubscribe = this.deps.functions.onChange((tenant, name) => {
      this.load(tenant, name);
      this.arm();
    });
    for (const fn of this.deps.functions.list(undefined)) this.load(fn.tenant, fn.name);
    this.arm();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.entries.clear();
  }

  /** The function's schedules with their next and last ticks ([] when it has none). */
  describe(tenant: string, name: string): ScheduleState[] {
    return (this.entries.get(`${tenant}/${name}`) ?? []).map((e) => ({
      cron: e.schedule.expression,
      nextRun: e.next,
      lastRun: this.storedTick(e),
    }));
  }

  /** (Re)reads one function's schedules from its latest version; none if it was deleted. */
  private load(tenant: string, name: string): void {
    const key = `${tenant}/${name}`;
    let expressions: readonly string[];
    try {
      expressions = this.deps.functions.get(tenant, name).config.schedule ?? [];
    } catch {
      this.entries.delete(key);
      return; // deleted (its stored ticks went with it)
    }
    const now = this.deps.clock.now();
    const before = this.entries.get(key);
    this.entries.delete(key);
    const list: Entry[] = [];
    for (const expression of expressions) {
      try {
        const entry: Entry = {
          tenant,
          name,
          schedule: parseCron(expression),
          next: undefined,
          prev: now,
          prewarmedFor: undefined,
          retryAt: undefined,
        };
        // Never before a tick already enqueued (a wall clock set back must not repeat it).
        const stored = this.storedTick(entry);
        if (stored !== undefined && stored > now)
          this.deps.onError(
            new Error(
              `schedule "${expression}" of ${key} last ran at ${new Date(stored).toISOString()}, after this clock's now: was the clock set back? It resumes after that tick`,
            ),
          );
        entry.prev = Math.max(now, stored ?? -Infinity);
        entry.next = entry.schedule.next(entry.prev);
        // A redeploy inside the lead: the instance warmed for the coming tick is the old version's,
        // so the new one is warmed now (prev as it was puts its pre-warm in the past: due at once).
        const old = before?.find((b) => b.schedule.expression === entry.schedule.expression);
        if (old && old.prewarmedFor === entry.next) entry.prev = old.prev;
        list.push(entry);
      } catch (err) {
        this.deps.onError(err); // an expression this croner refuses (it was checked at deploy)
      }
    }
    if (list.length > 0) this.entries.set(key, list);
  }

  private storedTick(e: Entry): number | undefined {
    const row = this.lastTick.get(e.tenant, e.name, e.schedule.expression) as
      { last_tick: number } | undefined;
    return row?.last_tick;
  }

  private get leadMs(): number {
    return this.deps.prewarm ? (this.deps.prewarmLeadMs ?? DEFAULT_PREWARM_LEAD_MS) : 0;
  }

  /** When `e` next needs the timer: its pre-warm, if it has one due, else its tick. */
  private wakeAt(e: Entry): number | undefined {
    if (e.next === undefined) return undefined;
    if (e.retryAt !== undefined) return e.retryAt;
    const prewarmAt = e.next - this.leadMs;
    // Ticks closer together than the lead keep their instances warm, or gain nothing from it.
    return this.leadMs > 0 && e.prewarmedFor !== e.next && prewarmAt > e.prev ? prewarmAt : e.next;
  }

  private arm(): void {
    if (this.timer) this.deps.clock.clearTimer(this.timer);
    this.timer = undefined;
    let earliest = Infinity;
    for (const list of this.entries.values())
      for (const e of list) {
        const at = this.wakeAt(e);
        if (at !== undefined && at < earliest) earliest = at;
      }
    if (earliest === Infinity) return;
    const delay = Math.min(Math.max(0, earliest - this.deps.clock.now()), MAX_SLEEP_MS);
    this.timer = this.deps.clock.setTimer(() => {
      this.timer = undefined;
      this.fireDue();
      this.arm();
    }, delay);
  }

  private fireDue(): void {
    const now = this.deps.clock.now();
    for (const list of this.entries.values()) {
      for (const e of list) {
        if (e.next === undefined) continue;
        if (e.retryAt !== undefined && e.retryAt > now) continue;
        if (e.next > now) {
          const at = this.wakeAt(e);
          if (at === undefined || at > now || at === e.next) continue;
          e.prewarmedFor = e.next;
          try {
            this.deps.prewarm!(e.tenant, e.name);
          } catch (err) {
            this.deps.onError(err);
          }
          continue;
        }
        try {
          this.fire(e, e.next);
          e.retryAt = undefined;
        } catch (err) {
          this.deps.onError(err);
          // Not lost: the same tick again shortly, until the next one is due.
          const following = e.schedule.next(e.next);
          e.retryAt = now + RETRY_MS;
          if (following !== undefined && e.retryAt < following) continue;
          e.retryAt = undefined;
        }
        // Ticks that passed meanwhile (a stalled process) are skipped: the next one is on time.
        e.prev = e.next;
        e.next = e.schedule.next(now);
      }
    }
  }

  /** Enqueues `tick` of `e` unless it already was; the tick and the invocation commit together. */
  private fire(e: Entry, tick: number): void {
    const { db, functions, invocations, dispatcher, clock } = this.deps;
    const id = uuidv7(clock.now());
    const enqueued = db.transaction(() => {
      if ((this.storedTick(e) ?? -Infinity) >= tick) return false;
      const version = functions.resolve(e.tenant, e.name);
      const event: ScheduledEvent = {
        type: 'schedule',
        cron: e.schedule.expression,
        scheduledTime: new Date(tick).toISOString(),
      };
      this.saveTick.run(e.tenant, e.name, e.schedule.expression, tick);
      invocations.enqueue({
        id,
        tenant: e.tenant,
        functionName: e.name,
        version: version.version,
        payload: JSON.stringify(event),
        createdAt: clock.now(),
        mode: 'schedule',
      });
      return true;
    })();
    if (enqueued) dispatcher.accepted(id, clock.monotonic());
  }
}
