/** Scheduled triggers end to end: a deployed schedule runs the function on its own, and stops with it. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KindlingError } from '../../src/core/errors.js';
import { eventually, startTestPlatform, tempDir } from '../helpers/platform.js';

describe('scheduled triggers (embedded platform)', () => {
  let platform: Awaited<ReturnType<typeof startTestPlatform>>;
  before(async () => {
    platform = await startTestPlatform([]);
  });
  after(async () => platform?.close());

  it('invokes the latest version at every tick with the schedule event, and shows the next tick', async () => {
    const dir = tempDir('kindling-ticker-');
    writeFileSync(join(dir, 'index.js'), 'exports.handler = async (event) => ({ got: event });\n');
    // Every second (six fields): a test cannot wait for minutes.
    writeFileSync(join(dir, 'kindling.json'), JSON.stringify({ name: 'ticker', schedule: '* * * * * *' }));
    await platform.deployer.deployDirectory('default', dir);

    const fn = await platform.call('GET', '/v1/functions/ticker');
    assert.equal(fn.body.config.schedule[0], '* * * * * *');
    assert.equal(fn.body.schedules[0].cron, '* * * * * *');
    assert.ok(Date.parse(fn.body.schedules[0].nextRun) > Date.now() - 1000, fn.text);

    const ran = await eventually(async () => {
      const { invocations } = (await platform.call('GET', '/v1/functions/ticker/invocations?limit=10')).body;
      const done = (invocations as { mode: string; status: string; result: unknown }[]).filter(
        (r) => r.mode === 'schedule' && r.status === 'succeeded',
      );
      return done.length >= 2 ? done : undefined;
    });
    for (const record of ran) {
      const { got } = record.result as { got: { type: string; cron: string; scheduledTime: string } };
      assert.equal(got.type, 'schedule');
      assert.equal(got.cron, '* * * * * *');
      assert.match(got.scheduledTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    }
    const times = ran.map((r) => (r.result as { got: { scheduledTime: string } }).got.scheduledTime);
    assert.equal(new Set(times).size, times.length, 'each tick once');

    assert.equal((await platform.call('DELETE', '/v1/functions/ticker')).status, 204);
  });

  it('refuses a deploy whose schedule is not a cron expression, saying how to write one', async () => {
    const dir = tempDir('kindling-ticker-');
    writeFileSync(join(dir, 'index.js'), 'exports.handler = async () => 1;\n');
    writeFileSync(
      join(dir, 'kindling.json'),
      JSON.stringify({ name: 'bad-ticker', schedule: 'every 5 minutes' }),
    );
    await assert.rejects(platform.deployer.deployDirectory('default', dir), (err: KindlingError) => {
      assert.equal(err.code, 'KINDLING_INVALID_CONFIG');
      assert.match(
        err.message,
        /schedule has 3 fields; write five fields \(minute hour day-of-month month day-of-week, in UTC\).*, got "every 5 minutes"/,
      );
      return true;
    });
    assert.equal(
      (await platform.call('GET', '/v1/functions/bad-ticker')).status,
      404,
      'nothing was deployed',
    );
  });
});
