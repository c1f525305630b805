/**
 * A real headless Chromium for the dashboard's end-to-end tests (Debian's `chromium` driven by
 * playwright-core), and a watch on the page's console: any error fails the test, except the network
 * refusals a step provokes on purpose (Chromium logs "Failed to load resource: … 401" as a console
 * error whenever the API answers 4xx), which the step must name.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot } from '../helpers/platform.js';

export const CHROMIUM = process.env.KINDLING_CHROMIUM ?? '/usr/bin/chromium';
export const artifacts = join(repoRoot, 'test', 'artifacts');

/** Launches Chromium; fails (never skips) when it is not installed. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `the dashboard tests need Chromium at ${CHROMIUM}: install it with \`apt-get install chromium\` (as root; .ci/run does), or set KINDLING_CHROMIUM`,
    );
  mkdirSync(artifacts, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    // Headless as root on a machine without outside network: no sandbox, no GPU, no background calls home.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

interface ConsoleEntry {
  text: string;
  url: string;
}

/** Collects a page's console errors and uncaught exceptions. */
export class ConsoleWatch {
  private errors: ConsoleEntry[] = [];

  constructor(page: Page) {
    page.on('console', (m) => {
      if (m.type() === 'error') this.errors.push({ text: m.text(), url: m.location().url });
    });
    page.on('pageerror', (err) =>
      this.errors.push({ text: `uncaught: ${err.stack ?? err.message}`, url: '' }),
    );
  }

  /**
   * Removes the "Failed to load resource" errors of responses with `status` from URLs whose path starts
   * with `pathPrefix`; fails if there was none (the step did not do what it meant to).
   */
  expectRefused(status: number, pathPrefix: string): void {
    const match = (e: ConsoleEntry) =>
      e.text.includes(`the server responded with a status of ${status}`) &&
      new URL(e.url || 'http://x/').pathname.startsWith(pathPrefix);
    const before = this.errors.length;
    this.errors = this.errors.filter((e) => !match(e));
    assert.ok(this.errors.length < before, `expected a ${status} from ${pathPrefix}`);
  }

  /** Fails on any console error seen so far. */
  assertClean(step: string): void {
    assert.deepEqual(this.errors, [], `console errors during "${step}"`);
  }
}

/** Saves a screenshot (of the whole page unless `fullPage` is false) to test/artifacts/NAME.png. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
