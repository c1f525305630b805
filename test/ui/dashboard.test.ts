/**
 * The dashboard end to end: a real platform with the examples deployed, a real headless Chromium
 * (one launch for the whole file), the real API and live feed. Screenshots of each view go to
 * test/artifacts/ (with KINDLING_UPDATE_SCREENSHOTS=1, the README's go to docs/screenshots/ too).
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PHASES } from '../../src/core/phases.js';
import { example, fixture, repoRoot, startTestPlatform } from '../helpers/platform.js';
import { ConsoleWatch, launchChromium, screenshot } from './browser.js';

type P = Awaited<ReturnType<typeof startTestPlatform>>;

const EXAMPLES = ['hello', 'ts-greeter', 'http-api', 'slow-init'];

describe('the dashboard in a real browser', () => {
  let p: P;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let watch: ConsoleWatch;
  let acmeKey: string;

  before(async () => {
    // First, so a missing Chromium fails at once with the command that installs it.
    browser = await launchChromium();
    p = await startTestPlatform(EXAMPLES.map(example));
    acmeKey = p.tenants.createTenant('acme').apiKey;
    await p.deployer.deployDirectory('acme', fixture('echo'));
    await p.deployer.deployDirectory('default', fixture('throws'));
    // A function under the adaptive keep-alive policy, from hello's image, for the Policies view.
    const hello = p.functions.resolve('default', 'hello');
    p.functions.createVersion({
      tenant: 'default',
      name: 'hello-adaptive',
      imageRepo: hello.imageRepo,
      imageDigest: hello.imageDigest,
      entry: hello.entry,
      config: { ...hello.config, keepAlivePolicy: 'hybrid-histogram' },
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page = await context.newPage();
    watch = new ConsoleWatch(page);
  });

  after(async () => {
    await browser?.close();
    await p?.close();
  });

  /** Waits until the page's feed has delivered a tick sent after `t` (server clock, epoch ms). */
  async function tickAfter(target: Page, t: number): Promise<void> {
    await target.waitForFunction(
      (since) =>
        Number((globalThis as any).document.querySelector('.feed-status')?.getAttribute('data-tick') ?? 0) >
        since,
      t,
    );
  }

  it('refuses a wrong key with a clear message, then signs in and lists the examples', async () => {
    await page.goto(`${p.url}/ui/`);
    await page.getByLabel('API key').waitFor();
    await screenshot(page, 'signin');
    await page.getByLabel('API key').fill('kdl_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('This API key was not accepted').waitFor();
    watch.expectRefused(401, '/v1/whoami');
    watch.assertClean('wrong key');

    await page.getByLabel('API key').fill(p.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const table = page.getByTestId('functions-table');
    for (const name of [...EXAMPLES, 'echo']) await table.locator(`tr[data-function="${name}"]`).waitFor();
    // The admin sees every tenant, with the tenant named.
    assert.match(await table.locator('tr[data-function="echo"]').innerText(), /acme/);
    await page.locator('.feed-status.live').waitFor();
    watch.assertClean('sign in');
  });

  it('invokes from the form: result, a waterfall matching the record, cold then warm', async () => {
    await page.getByRole('link', { name: 'hello', exact: true }).click();
    await page.getByRole('heading', { name: 'Invoke' }).waitFor();

    // Invalid JSON never leaves the page.
    await page.getByLabel('Payload (JSON event)').fill('{"name": ');
    await page.getByRole('button', { name: 'Invoke' }).click();
    assert.match(await page.getByTestId('payload-error').innerText(), /not valid JSON.*Nothing was sent/);
    assert.equal((await p.call('GET', '/v1/functions/hello/invocations')).body.invocations.length, 0);

    await page.getByLabel('Payload (JSON event)').fill('{"name": "browser"}');
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.getByTestId('result-body').getByText('hello, browser').waitFor();
    const first = page.getByTestId('waterfall');
    await first.waitFor();
    const firstId = (await first.getAttribute('data-invocation'))!;
    const record = (await p.call('GET', `/v1/invocations/${firstId}`)).body;
    assert.equal(record.cold, true);
    for (const phase of PHASES) {
      const row = first.locator(`[data-phase="${phase}"]`);
      assert.equal(
        Number(await row.getAttribute('data-ms')),
        record.phases[phase],
        `${phase} matches the record`,
      );
      assert.ok(record.phases[phase] > 0, `the cold start has a ${phase} phase`);
      assert.equal(await row.locator('.wf-bar').count(), 1, `${phase} is drawn`);
    }
    assert.equal(await first.locator('.badge.cold').innerText(), `cold · ${record.startPath}`);
    await page.getByTestId('logs').getByText('greeting browser').waitFor();
    await screenshot(page, 'function');
    // The invocation panel: waterfall, facts, result and logs.
    await page
      .locator('section.card', { has: page.getByTestId('waterfall') })
      .screenshot({ path: join(repoRoot, 'test', 'artifacts', 'waterfall.png') });

    await page.getByRole('button', { name: 'Invoke' }).click();
    const second = page.locator(`[data-testid="waterfall"]:not([data-invocation="${firstId}"])`);
    await second.waitFor();
    const secondId = (await second.getAttribute('data-invocation'))!;
    const warm = (await p.call('GET', `/v1/invocations/${secondId}`)).body;
    assert.equal(warm.cold, false);
    assert.equal(await second.locator('.badge.warm').innerText(), 'warm');
    for (const phase of ['fetch', 'sandbox', 'runtime', 'init']) {
      const row = second.locator(`[data-phase="${phase}"]`);
      assert.equal(await row.locator('.wf-bar').count(), 0, `a warm start draws no ${phase}`);
      assert.equal(await row.locator('.wf-dur').innerText(), 'skipped');
    }
    for (const phase of PHASES)
      assert.equal(
        Number(await second.locator(`[data-phase="${phase}"]`).getAttribute('data-ms')),
        warm.phases[phase],
      );
    // Both appear in the recent list, marked.
    const rows = page.getByTestId('invocations-table');
    await rows.locator(`tr[data-invocation="${firstId}"] .badge.cold`).waitFor();
    await rows.locator(`tr[data-invocation="${secondId}"] .badge.warm`).waitFor();
    watch.assertClean('invoke');
  });

  it('shows invocations made elsewhere as they happen (live feed), and async ones from the form', async () => {
    const res = await p.call('POST', '/v1/functions/hello/invoke', { name: 'curl' });
    const id = res.headers.get('x-kindling-invocation-id')!;
    // No reload: the row arrives over the event stream.
    await page.getByTestId('invocations-table').locator(`tr[data-invocation="${id}"]`).waitFor();

    await page.getByLabel('async', { exact: true }).check();
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.getByTestId('invoke-result').getByText('Queued asynchronously').waitFor();
    const asyncId = new URL(page.url()).searchParams.get('invocation')!;
    await page.locator(`[data-testid="waterfall"][data-invocation="${asyncId}"]`).waitFor();
    const record = (await p.call('GET', `/v1/invocations/${asyncId}`)).body;
    assert.equal(record.mode, 'async');
    assert.equal(record.status, 'succeeded');
    await page.getByLabel('sync', { exact: true }).check();
    watch.assertClean('live');
  });

  it('overview counts the invocations live; cluster and policy views render', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    const row = page.getByTestId('functions-table').locator('tr[data-function="hello"]');
    await page.waitForFunction(
      () =>
        Number((globalThis as any).document.querySelector('tr[data-function="hello"] td.num')?.textContent) >=
        4,
    );
    assert.match(await row.innerText(), /hello/);
    await page
      .locator('[data-testid="instances-table"] tr[data-tier="process"] td[data-state="idle"]')
      .waitFor();
    await screenshot(page, 'overview');

    // Data arriving moves nothing: no layout shift while ticks bring new counts and latencies.
    await page.evaluate(() => {
      const g = globalThis as any;
      g.__shift = 0;
      new g.PerformanceObserver((list: any) => {
        for (const e of list.getEntries()) if (!e.hadRecentInput) g.__shift += e.value;
      }).observe({ type: 'layout-shift' });
    });
    let last: any;
    for (let i = 0; i < 3; i++)
      last = await p.call('POST', '/v1/functions/hello/invoke', { name: `shift-${i}` });
    const lastRecord = (
      await p.call('GET', `/v1/invocations/${last.headers.get('x-kindling-invocation-id')}`)
    ).body;
    await tickAfter(page, lastRecord.finishedAt + 1000);
    assert.equal(await page.evaluate(() => (globalThis as any).__shift), 0, 'cumulative layout shift');

    // Keyboard only: from the filter box, Tab reaches the sort control, then the first function.
    const active = () =>
      page.evaluate(() => {
        const el = (globalThis as any).document.activeElement;
        return `${el?.tagName}#${el?.id ?? ''}:${el?.textContent ?? ''}`;
      });
    await page.getByPlaceholder('Filter by name').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    assert.equal(await active(), 'A#:echo');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Invoke' }).waitFor();
    assert.match(await page.locator('h1').innerText(), /^echo/);
    assert.match(await active(), /^MAIN#main/, 'focus moves to the new view');
    assert.equal(await page.title(), 'echo · Kindling');
    await page.goBack();
    await page.getByTestId('functions-table').waitFor();

    await page.getByRole('link', { name: 'Cluster' }).click();
    await page
      .getByTestId('cluster-notice')
      .getByText('cluster mode is not running', { exact: false })
      .waitFor();
    await page.locator('article.host[data-host="local"]').waitFor();
    await screenshot(page, 'cluster');

    // Teach the adaptive policy some idle times, then look at its histogram.
    for (let i = 0; i < 12; i++) await p.call('POST', '/v1/functions/hello-adaptive/invoke', {});
    await page.getByRole('link', { name: 'Policies' }).click();
    const policies = page.getByTestId('policies-table');
    assert.match(await policies.locator('tr[data-function="hello"]').innerText(), /fixed/);
    await policies.locator('tr[data-function="hello-adaptive"]').getByRole('link').click();
    const detail = page.getByTestId('policy-detail');
    await detail.getByText('hybrid-histogram', { exact: true }).waitFor();
    await detail.locator('.histogram rect.hist-bar').first().waitFor();
    await screenshot(page, 'policies');
    watch.assertClean('views');
  });

  it("shows a handler's error with its waterfall", async () => {
    await page.goto(`${p.url}/ui/functions/throws`);
    await page.getByRole('button', { name: 'Invoke' }).click();
    await page.getByTestId('invoke-result').getByText('HTTP 500').waitFor();
    const detail = page.getByTestId('invocation-detail');
    await detail.getByText('KINDLING_HANDLER_ERROR').waitFor();
    await detail.getByText('the handler failed on purpose').waitFor();
    await detail.getByTestId('waterfall').locator('.badge.cold').waitFor();
    watch.expectRefused(500, '/v1/functions/throws/invoke');
    watch.assertClean('handler error');
  });

  it("shows a function's schedule with its next tick, and how its HTTP trigger is reached", async () => {
    const hello = p.functions.resolve('default', 'hello');
    p.functions.createVersion({
      tenant: 'default',
      name: 'hello-nightly',
      imageRepo: hello.imageRepo,
      imageDigest: hello.imageDigest,
      entry: hello.entry,
      config: { ...hello.config, schedule: '0 3 * * *', public: true },
    });
    await page.goto(`${p.url}/ui/functions/hello-nightly`);
    const config = page.getByTestId('config');
    await config.getByText(/^0 3 \* \* \* \(UTC; next \d{4}-\d\d-\d\dT03:00:00Z, last never\)$/).waitFor();
    await config.getByText('public (no API key)').waitFor();
    watch.assertClean('schedule');
  });

  it('says clearly when a function or page does not exist', async () => {
    await page.goto(`${p.url}/ui/functions/nope`);
    await page.getByTestId('function-error').getByText('There is no function named “nope”').waitFor();
    watch.expectRefused(404, '/v1/functions/nope');
    await page.goto(`${p.url}/ui/functions/Bad_Name!`);
    await page.getByTestId('function-error').getByText('KINDLING_INVALID_NAME').waitFor();
    watch.expectRefused(400, '/v1/functions/Bad_Name!');
    await page.goto(`${p.url}/ui/no/such/view`);
    await page.getByText('No such page').waitFor();
    watch.assertClean('not found');
  });

  it('is readable on a phone and in the dark theme', async () => {
    await page.goto(`${p.url}/ui/`);
    await page.getByTestId('functions-table').waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(
      () => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth,
    );
    assert.ok(overflow <= 0, `no sideways scrolling at phone width (${overflow}px too wide)`);
    await screenshot(page, 'overview-phone');
    await page.getByRole('link', { name: 'hello', exact: true }).click();
    await page.getByTestId('invocations-table').locator('a').first().click();
    await page.getByTestId('waterfall').waitFor();
    const fnOverflow = await page.evaluate(
      () => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth,
    );
    assert.ok(fnOverflow <= 0, `the function view fits a phone too (${fnOverflow}px too wide)`);
    await screenshot(page, 'function-phone');
    await page.goBack();
    await page.goBack();
    await page.getByTestId('functions-table').waitFor();
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    const bg = await page.evaluate(
      () => (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor,
    );
    assert.equal(bg, 'rgb(17, 20, 24)', 'the dark palette follows the system setting');
    await screenshot(page, 'overview-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    watch.assertClean('themes');
  });

  it('ends a session whose key stops working, with a message', async () => {
    await page.evaluate(() =>
      (globalThis as any).sessionStorage.setItem('kindling.apiKey', 'kdl_revoked-or-expired'),
    );
    await page.reload();
    await page.getByText('Your saved session ended').waitFor();
    await page.getByLabel('API key').waitFor();
    watch.expectRefused(401, '/v1/whoami');
    watch.assertClean('expired key');
  });

  it("a second tenant's key sees only its own functions and none of the first tenant's activity", async () => {
    const other = await context.browser()!.newContext({ viewport: { width: 1280, height: 800 } });
    const page2 = await other.newPage();
    const watch2 = new ConsoleWatch(page2);
    await page2.goto(`${p.url}/ui/`);
    await page2.getByLabel('API key').fill(acmeKey);
    await page2.getByRole('button', { name: 'Sign in' }).click();
    const table = page2.getByTestId('functions-table');
    await table.locator('tr[data-function="echo"]').waitFor();
    assert.equal(await table.locator('tbody tr').count(), 1, 'acme sees only its own function');
    await page2.locator('.feed-status.live').waitFor();

    // The first tenant's invocations do not reach this page's feed.
    const res = await p.call('POST', '/v1/functions/hello/invoke', {});
    const rec = (await p.call('GET', `/v1/invocations/${res.headers.get('x-kindling-invocation-id')}`)).body;
    await tickAfter(page2, rec.finishedAt + 1000);
    assert.equal(await page2.getByTestId('rate').innerText(), '0.0');
    assert.equal(await page2.getByTestId('cold-rate').innerText(), '—');
    assert.equal(await table.locator('tr[data-function="hello"]').count(), 0);

    // A function deployed while the page is open appears once the feed shows it in use.
    await p.deployer.deployDirectory('acme', fixture('echo'), 'acme-new');
    await p.call('POST', '/v1/functions/acme-new/invoke', {}, acmeKey);
    await table.locator('tr[data-function="acme-new"]').waitFor();

    await page2.goto(`${p.url}/ui/functions/hello`);
    await page2.getByText('There is no function named “hello” in tenant acme').waitFor();
    watch2.expectRefused(404, '/v1/functions/hello');
    await page2.goto(`${p.url}/ui/policies`);
    await page2.getByTestId('policies-table').locator('tr[data-function="echo"]').waitFor();
    assert.equal(await page2.getByTestId('policies-table').locator('tbody tr').count(), 2);

    // A tenant with nothing deployed is told how to deploy.
    const emptyKey = p.tenants.createTenant('newcomer').apiKey;
    await page2.getByRole('button', { name: 'Sign out' }).click();
    await page2.getByLabel('API key').fill(emptyKey);
    await page2.getByRole('button', { name: 'Sign in' }).click();
    await page2.getByRole('link', { name: 'Overview' }).click();
    await page2.getByTestId('empty-functions').getByText('kindling deploy').waitFor();
    await screenshot(page2, 'empty');
    watch2.assertClean('second tenant');
    await other.close();
  });

  it('stays usable with 1,000 functions and a burst of 100 invocations per second', async (t) => {
    const hello = p.functions.resolve('default', 'hello');
    for (let i = 0; i < 1000; i++)
      p.functions.createVersion({
        tenant: 'default',
        name: `load-${String(i).padStart(4, '0')}`,
        imageRepo: hello.imageRepo,
        imageDigest: hello.imageDigest,
        entry: hello.entry,
        config: hello.config,
      });
    const total = (await p.call('GET', '/v1/functions?all=1')).body.functions.length;
    assert.ok(total > 1000);
    await page.goto(`${p.url}/ui/`);
    await page.getByLabel('API key').fill(p.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const table = page.getByTestId('functions-table');
    await page.getByText(`1–50 of ${total}`).waitFor();
    assert.equal(await table.locator('tbody tr').count(), 50, `one page of rows in the DOM, not ${total}`);
    // Long tasks on the page's main thread during the burst, reported (not asserted: timing varies).
    await page.evaluate(() => {
      const g = globalThis as any;
      g.__longTasks = [];
      new g.PerformanceObserver((list: any) => {
        for (const e of list.getEntries()) g.__longTasks.push(e.duration);
      }).observe({ type: 'longtask' });
    });

    // 300 invocations paced at one per 10 ms, spread over functions so the table's counts move.
    const inflight: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      inflight.push(p.call('POST', `/v1/functions/${i % 2 ? 'hello' : 'load-0001'}/invoke`, {}));
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(inflight);
    await page.getByRole('combobox', { name: 'Sort' }).selectOption('activity');
    // Every invocation is counted in the live table (150 on each function). Counted on load-0001, new
    // in this step: hello's count also holds earlier steps' invocations, which leave the one-minute
    // window while a slow machine works through the burst.
    await page.waitForFunction(
      (want) =>
        Number(
          (globalThis as any).document.querySelector('tr[data-function="load-0001"] td.num')?.textContent ??
            0,
        ) >= want,
      150,
    );
    await table.locator('tbody tr').first().locator('[href*="load-0001"], [href$="/hello"]').waitFor();
    await screenshot(page, 'overview-load', false);
    // The page still answers input: filtering and paging work.
    await page.getByRole('button', { name: 'Next →' }).click();
    await page.getByText(`51–100 of ${total}`).waitFor();
    await page.getByPlaceholder('Filter by name').fill('load-099');
    await page.getByText('1–10 of 10').waitFor();
    const longTasks = await page.evaluate(() => (globalThis as any).__longTasks as number[]);
    t.diagnostic(
      `dashboard under load: ${longTasks.length} long tasks, longest ${Math.max(0, ...longTasks).toFixed(0)} ms`,
    );
    watch.assertClean('load');
  });

  after(() => {
    if (process.env.KINDLING_UPDATE_SCREENSHOTS !== '1') return;
    const docs = join(repoRoot, 'docs', 'screenshots');
    mkdirSync(docs, { recursive: true });
    // The README's overview is the one taken under load (1,000 functions, 100 invocations/s).
    for (const [from, to] of [
      ['overview-load', 'overview'],
      ['waterfall', 'waterfall'],
    ])
      copyFileSync(join(repoRoot, 'test', 'artifacts', `${from}.png`), join(docs, `${to}.png`));
  });
});
