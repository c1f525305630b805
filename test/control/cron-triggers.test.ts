/** Scheduled triggers on a ManualClock: cron parsing, ticks enqueued once, restarts, redeploys. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { cronProblem, parseCron } from '../../src/control/cron.js';
import { CronTriggers } from '../../src/control/cron-triggers.js';
import { openDatabase, type Db } from '../../src/control/db.js';
import { parseFunctionConfig } from '../../src/control/function-config.js';
import { FunctionStore } from '../../src/control/functions.js';
import { InvocationStore } from '../../src/control/invocations.js';
import { TenantStore } from '../../src/control/tenants.js';

const MINUTE = 60_000;
/** 2026-12-07 04:03:30 UTC. */
const START = Date.UTC(2026, 11, 7, 4, 3, 30);
const iso = (ms: number) => new Date(ms).toISOString();

function platform(
  file = ':memory:',
  clock = new ManualClock(START),
  prewarm?: { leadMs: number; calls: [string, number][] },
  wrap: (store: InvocationStore) => InvocationStore = (store) => store,
) {
  const db = openDatabase(file);
  const tenants = new TenantStore(db);
  if (!tenants.list().some((t) => t.tenant === 'acme')) tenants.createTenant('acme');
  const functions = new FunctionStore(db);
  const invocations = new InvocationStore(db);
  const accepted: string[] = [];
  const errors: unknown[] = [];
  const triggers = new CronTriggers({
    db,
    functions,
    invocations: wrap(invocations),
    dispatcher: { accepted: (id) => accepted.push(id) },
    clock,
    ...(prewarm && {
      prewarmLeadMs: prewarm.leadMs,
      prewarm: (tenant: string, name: string) => prewarm.calls.push([`${tenant}/${name}`, clock.now()]),
    }),
    onError: (err) => errors.push(err),
  });
  const deploy = (name: string, config: unknown) =>
    functions.createVersion({
      tenant: 'acme',
      name,
      imageRepo: `acme/${name}`,
      imageDigest: `sha256:${'a'.repeat(64)}`,
      entry: 'index.cjs',
      config,
    });
  return { db, clock, functions, triggers, accepted, errors, deploy };
}

/** The scheduled invocations in the queue: version and event. */
function queued(db: Db): { name: string; version: number; event: unknown }[] {
  return (
    db
      .prepare(
        "SELECT function_name, version, payload FROM invocations WHERE mode = 'schedule' ORDER BY created_at, rowid",
      )
      .all() as { function_name: string; version: number; payload: string }[]
  ).map((r) => ({ name: r.function_name, version: r.version, event: JSON.parse(r.payload) }));
}

describe('cron expressions', () => {
  it('give the next tick strictly after a time, in UTC, with minutes, seconds or a nickname', () => {
    const every5 = parseCron('*/5 * * * *');
    assert.equal(iso(every5.next(START)!), '2026-12-07T04:05:00.000Z');
    assert.equal(
      iso(every5.next(Date.UTC(2026, 11, 7, 4, 5))!),
      '2026-12-07T04:10:00.000Z',
      'strictly after',
    );
    assert.equal(iso(parseCron('*/10 * * * * *').next(START)!), '2026-12-07T04:03:40.000Z');
    assert.equal(iso(parseCron('@daily').next(START)!), '2026-12-08T00:00:00.000Z');
    assert.equal(iso(parseCron('0 9 * * MON-FRI').next(START)!), '2026-12-07T09:00:00.000Z');
  });

  it('refuse what is not one, saying how to write it', () => {
    assert.equal(cronProblem('0 * * * *'), undefined);
    assert.match(
      cronProblem('* * *')!,
      /^has 3 fields; write five fields \(minute hour day-of-month month day-of-week, in UTC\)/,
    );
    assert.match(cronProblem('')!, /^has 0 fields/);
    assert.match(cronProblem('* * * * * * *')!, /^has 7 fields/);
    assert.match(cronProblem('61 * * * *')!, /^is not a cron expression \(invalid value for minute: 61\)/);
    assert.equal(cronProblem('0 0 31 2 *'), 'matches no date: no day satisfies all of its fields');
    assert.throws(() => parseCron('nope'), /^Error: schedule "nope" has 1 field;/);
  });

  it('are checked at deploy, each one of a list named by its place', () => {
    assert.deepEqual(parseFunctionConfig({ schedule: ' @hourly ' }).schedule, ['@hourly']);
    assert.equal(parseFunctionConfig({}).schedule, undefined);
    assert.throws(
      () => parseFunctionConfig({ schedule: ['*/5 * * * *', '61 * * * *'] }),
      /schedule\[1\] is not a cron expression \(invalid value for minute: 61\).*, got "61 \* \* \* \*"/,
    );
    assert.throws(() => parseFunctionConfig({ schedule: [] }), /schedule must not be empty/);
    assert.throws(
      () => parseFunctionConfig({ schedule: 5 }),
      /schedule must be a cron expression or an array/,
    );
  });
});

describe('scheduled triggers', () => {
  it("enqueue the latest version at each tick with the tick's event, and follow redeploys and deletes", () => {
    const p = platform();
    p.deploy('report', { schedule: '*/5 * * * *' });
    p.deploy('quiet', {});
    p.triggers.start();
    assert.deepEqual(p.triggers.describe('acme', 'report'), [
      { cron: '*/5 * * * *', nextRun: Date.UTC(2026, 11, 7, 4, 5), lastRun: undefined },
    ]);
    assert.deepEqual(p.triggers.describe('acme', 'quiet'), []);

    p.clock.advance(90_000 - 1);
    assert.deepEqual(queued(p.db), [], 'not before its time');
    p.clock.advance(1);
    p.clock.advance(5 * MINUTE);
    const event = (t: string) => ({ type: 'schedule', cron: '*/5 * * * *', scheduledTime: t });
    assert.deepEqual(queued(p.db), [
      { name: 'report', version: 1, event: event('2026-12-07T04:05:00.000Z') },
      { name: 'report', version: 1, event: event('2026-12-07T04:10:00.000Z') },
    ]);
    assert.equal(p.accepted.length, 2, 'the dispatcher is woken for each');
    assert.equal(p.triggers.describe('acme', 'report')[0]!.lastRun, Date.UTC(2026, 11, 7, 4, 10));

    // A redeploy with another schedule replaces it; the new version is the one invoked.
    p.deploy('report', { schedule: ['0 * * * *', '*/30 * * * *'] });
    p.clock.advance(50 * MINUTE); // to 05:00
    assert.deepEqual(
      queued(p.db)
        .slice(2)
        .map((q) => [q.version, (q.event as { scheduledTime: string }).scheduledTime]),
      [
        [2, '2026-12-07T04:30:00.000Z'],
        [2, '2026-12-07T05:00:00.000Z'],
        [2, '2026-12-07T05:00:00.000Z'],
      ],
    );
    // A version without a schedule, or a deleted function, is no longer triggered.
    p.deploy('report', {});
    p.clock.advance(60 * MINUTE);
    assert.equal(queued(p.db).length, 5);
    p.deploy('report', { schedule: '* * * * *' });
    p.functions.delete('acme', 'report');
    p.clock.advance(60 * MINUTE);
    assert.equal(queued(p.db).filter((q) => q.version === 4).length, 0);
    assert.equal(p.clock.pending, 0, 'no timer is left with nothing scheduled');
    assert.deepEqual(p.errors, []);
    p.triggers.stop();
  });

  it('enqueue each tick once across a restart, even with the wall clock set back, and skip ticks missed while down', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kindling-cron-')), 'db.sqlite');
    const first = platform(file);
    first.deploy('report', { schedule: '* * * * *' });
    first.triggers.start();
    first.clock.advance(30_000); // 04:04:00
    assert.equal(queued(first.db).length, 1);
    first.triggers.stop();
    first.db.close();

    // Restarted with the clock 10 s behind: 04:04:00 must not run again.
    const again = platform(file, new ManualClock(Date.UTC(2026, 11, 7, 4, 3, 50)));
    again.triggers.start();
    assert.equal(again.triggers.describe('acme', 'report')[0]!.nextRun, Date.UTC(2026, 11, 7, 4, 5));
    again.clock.advance(20_000);
    assert.equal(queued(again.db).length, 1);
    assert.match(
      String(again.errors[0]),
      /last ran at 2026-12-07T04:04:00\.000Z, after this clock's now: was the clock set back\?/,
    );
    again.triggers.stop();
    again.db.close();

    // Down for an hour: no burst of the 60 ticks it missed; the next one on time.
    const later = platform(file, new ManualClock(Date.UTC(2026, 11, 7, 5, 4, 30)));
    later.triggers.start();
    later.clock.advance(30_000);
    assert.deepEqual(
      queued(later.db).map((q) => (q.event as { scheduledTime: string }).scheduledTime),
      ['2026-12-07T04:04:00.000Z', '2026-12-07T05:05:00.000Z'],
    );
    later.triggers.stop();
    later.db.close();
  });

  it('pre-warm an instance the lead before each tick, and not for ticks closer together than the lead', () => {
    const calls: [string, number][] = [];
    const p = platform(':memory:', new ManualClock(START), { leadMs: 10_000, calls });
    p.deploy('report', { schedule: '*/5 * * * *' });
    p.deploy('pulse', { schedule: '*/5 * * * * *' }); // every 5 s: its instances stay warm
    p.triggers.start();
    p.clock.advance(90_000 - 10_001);
    assert.equal(calls.length, 0);
    p.clock.advance(1);
    assert.deepEqual(calls, [['acme/report', Date.UTC(2026, 11, 7, 4, 4, 50)]]);
    assert.equal(queued(p.db).filter((q) => q.name === 'report').length, 0, 'the tick itself is not yet');
    p.clock.advance(10_000);
    assert.equal(queued(p.db).filter((q) => q.name === 'report').length, 1);
    p.clock.advance(5 * MINUTE);
    assert.deepEqual(
      calls.map(([, at]) => iso(at)),
      ['2026-12-07T04:04:50.000Z', '2026-12-07T04:09:50.000Z'],
    );
    assert.ok(queued(p.db).filter((q) => q.name === 'pulse').length > 60, 'pulse ran, never pre-warmed');
    assert.deepEqual(p.errors, []);
    p.triggers.stop();
  });

  it('tries a tick again when its enqueue fails, keeping its time, and pre-warms a version redeployed inside the lead', () => {
    let failures = 1;
    const calls: [string, number][] = [];
    const p = platform(':memory:', new ManualClock(START), { leadMs: 10_000, calls }, (store) =>
      Object.assign(Object.create(store) as InvocationStore, {
        enqueue: (input: Parameters<InvocationStore['enqueue']>[0]) => {
          if (failures-- > 0) throw new Error('SQLITE_BUSY: database is locked');
          store.enqueue(input);
        },
      }),
    );
    p.deploy('report', { schedule: '*/5 * * * *' });
    p.triggers.start();
    p.clock.advance(80_000); // 04:04:50: the pre-warm
    assert.equal(calls.length, 1);
    p.deploy('report', { schedule: '*/5 * * * *' }); // v2, 10 s before the tick
    p.clock.advance(0);
    assert.equal(calls.length, 2, 'the new version is warmed too');
    p.clock.advance(10_000); // the tick: its enqueue fails
    assert.equal(queued(p.db).length, 0);
    assert.match(String(p.errors[0]), /SQLITE_BUSY/);
    p.clock.advance(1_000); // tried again
    assert.deepEqual(
      queued(p.db).map((q) => [q.version, (q.event as { scheduledTime: string }).scheduledTime]),
      [[2, '2026-12-07T04:05:00.000Z']],
    );
    p.triggers.stop();
  });
});
