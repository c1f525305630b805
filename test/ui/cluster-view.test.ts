/**
 * The dashboard's cluster view end to end: a loopback test cluster (a control plane in this process,
 * three `kindling worker` processes whose image traffic is limited to 8 Mbit/s each way), a real
 * headless Chromium, and an image that takes a few seconds to spread over its function tree. The page
 * must draw the tree as the control plane keeps it, show edges part-way while blocks flow and complete
 * once every host has the image, with registry and peer bytes that add up; a second tenant sees none
 * of it. Screenshots go to test/artifacts/ (with KINDLING_UPDATE_SCREENSHOTS=1, the README's to
 * docs/screenshots/ too).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { ClusterView, DistributionView } from '../../src/api/cluster-types.js';
import { startTestCluster, type TestCluster } from '../helpers/cluster.js';
import { repoRoot, tempDir } from '../helpers/platform.js';
import { ConsoleWatch, launchChromium, screenshot } from './browser.js';

const HOSTS = ['host-a', 'host-b', 'host-c'];
const FN = 'default/spread@1';

/** A function whose image is mostly 3 MiB of random bytes: six blocks that compress to nothing less. */
function spreadFunction(): string {
  const dir = tempDir('kindling-spread-fn-');
  writeFileSync(join(dir, 'index.js'), 'exports.handler = async () => ({ ok: true });\n');
  writeFileSync(join(dir, 'payload.bin'), randomBytes(3 * 1024 * 1024));
  writeFileSync(
    join(dir, 'kindling.json'),
    JSON.stringify({ name: 'spread', bundle: false, entry: 'index.js' }),
  );
  return dir;
}

describe('the cluster view in a real browser', () => {
  let cluster: TestCluster;
  let browser: Browser;
  let page: Page;
  let watch: ConsoleWatch;

  before(async () => {
    browser = await launchChromium();
    cluster = await startTestCluster([spreadFunction()], HOSTS, 1000, {
      distribution: 'tree',
      bandwidth: '8mbit',
    });
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      colorScheme: 'light',
    });
    page = await context.newPage();
    watch = new ConsoleWatch(page);
  });

  after(async () => {
    await browser?.close();
    await cluster?.close();
  });

  /** The distribution of `spread` as the API reports it now. */
  async function apiTree(key?: string): Promise<DistributionView | undefined> {
    const view = (await cluster.call('GET', '/v1/ui/cluster', undefined, key)).body as ClusterView;
    return view.trees.find((t) => t.fn === FN);
  }

  it('lists the workers, then draws the function tree filling up live as the image spreads', async () => {
    await page.goto(`${cluster.platform.url}/ui/cluster`);
    await page.getByLabel('API key').fill(cluster.platform.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const id of HOSTS) await page.locator(`article.host[data-host="${id}"]`).waitFor();
    await page.getByTestId('empty-distributions').getByText('No image is being distributed').waitFor();
    watch.assertClean('hosts');

    // Cold starts on every host at once: the first to join is the tree's root, the others its children.
    const invocations = HOSTS.map((h) => cluster.call('POST', `/v1/functions/spread/invoke?host=${h}`, {}));
    const drawn = page.locator(`.distribution[data-fn="${FN}"]`);
    await drawn.waitFor();
    // Part-way: an edge drawn with some of the image and not all of it, with no reload.
    await page.waitForFunction(
      (fn) =>
        [...(globalThis as any).document.querySelectorAll(`.distribution[data-fn="${fn}"] .ft-edge`)].some(
          (e: any) => {
            const p = Number(e.getAttribute('data-progress'));
            return p > 0 && p < 1;
          },
        ),
      FN,
    );
    await screenshot(page, 'cluster-spreading');

    for (const res of await Promise.all(invocations)) assert.equal(res.status, 200, res.text);
    // Every edge completes once every host's stored reports are in.
    await page.waitForFunction(
      ({ fn, n }) => {
        const edges = [
          ...(globalThis as any).document.querySelectorAll(`.distribution[data-fn="${fn}"] .ft-edge`),
        ];
        return edges.length === n && edges.every((e: any) => e.getAttribute('data-progress') === '1.000');
      },
      { fn: FN, n: HOSTS.length },
    );
    const tree = (await apiTree())!;
    assert.equal(tree.strategy, 'tree');
    assert.equal(tree.hosts.length, HOSTS.length);
    const image = tree.image!;
    assert.ok(image.blocks >= 6, `an image of ${image.blocks} blocks`);

    // The drawing is the control plane's tree: registry → root → its two children.
    const root = tree.tree!.root!;
    const edges = await drawn
      .locator('.ft-edge')
      .evaluateAll((els) => els.map((e) => `${e.getAttribute('data-from')}→${e.getAttribute('data-to')}`));
    assert.deepEqual(
      edges.sort(),
      [`registry→${root.host}`, `${root.host}→${root.left!.host}`, `${root.host}→${root.right!.host}`].sort(),
    );
    for (const id of HOSTS) await drawn.locator(`.ft-node.done[data-host="${id}"]`).waitFor();

    // Bytes add up: the root pulled the image from the registry once, its children took it from the root.
    const split = drawn.getByTestId('bytes-split');
    const registry = Number(await split.getByTestId('bytes-registry').getAttribute('data-bytes'));
    const peers = Number(await split.getByTestId('bytes-peers').getAttribute('data-bytes'));
    assert.equal(registry, image.bytes);
    assert.equal(registry + peers, HOSTS.length * image.bytes);
    assert.deepEqual([registry, peers], [tree.bytesFromRegistry, tree.bytesFromPeers]);
    for (const h of tree.hosts) {
      const row = drawn.locator(`tr[data-host="${h.host}"]`);
      assert.equal(Number(await row.getAttribute('data-blocks')), image.blocks);
      assert.equal(h.bytesFromUpstream, image.bytes, `${h.host} took the whole image over its edge`);
      assert.match(await row.innerText(), new RegExp(h.host === root.host ? 'registry' : root.host));
    }
    // Each host counts the image among those it holds (from its next heartbeat) and names it.
    for (const id of HOSTS) {
      await page
        .locator(`article.host[data-host="${id}"]`)
        .getByTestId('host-images')
        .getByText('1', { exact: true })
        .waitFor();
      assert.match(
        await page.locator(`article.host[data-host="${id}"]`).getByTestId('host-distributions').innerText(),
        /spread@1/,
      );
    }
    await screenshot(page, 'cluster-tree');
    watch.assertClean('spread');
  });

  it('is keyboard reachable, fits a phone, and follows the dark theme', async () => {
    // The function's name in the distribution's heading is a link that the keyboard opens.
    await page.locator(`.distribution[data-fn="${FN}"] h3 a`).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Invoke' }).waitFor();
    await page.goBack();
    await page.locator(`.distribution[data-fn="${FN}"] .ft-svg`).waitFor();

    await page.setViewportSize({ width: 390, height: 800 });
    await page.emulateMedia({ colorScheme: 'dark' });
    const overflow = await page.evaluate(() => {
      const d = (globalThis as any).document.documentElement;
      return d.scrollWidth - d.clientWidth;
    });
    assert.equal(overflow, 0, 'no sideways scrolling at phone width');
    await screenshot(page, 'cluster-phone-dark');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'light' });
    watch.assertClean('phone');
  });

  it("shows another tenant's key none of the trees or image names", async () => {
    const key = cluster.platform.tenants.createTenant('acme').apiKey;
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const other = await context.newPage();
    const otherWatch = new ConsoleWatch(other);
    await other.goto(`${cluster.platform.url}/ui/cluster`);
    await other.getByLabel('API key').fill(key);
    await other.getByRole('button', { name: 'Sign in' }).click();
    for (const id of HOSTS) await other.locator(`article.host[data-host="${id}"]`).waitFor();
    await other.getByTestId('empty-distributions').waitFor();
    assert.equal(await other.locator('.distribution').count(), 0);
    assert.doesNotMatch(await other.locator('main').innerText(), /spread@|default\//);
    for (const id of HOSTS)
      assert.equal(
        await other.locator(`article.host[data-host="${id}"]`).getByTestId('host-images').innerText(),
        '0',
      );
    assert.equal(await apiTree(key), undefined);
    otherWatch.assertClean('other tenant');
    await context.close();
  });

  after(() => {
    if (process.env.KINDLING_UPDATE_SCREENSHOTS !== '1') return;
    const docs = join(repoRoot, 'docs', 'screenshots');
    mkdirSync(docs, { recursive: true });
    copyFileSync(join(repoRoot, 'test', 'artifacts', 'cluster-spreading.png'), join(docs, 'cluster.png'));
  });
});
