/** An instance that dies after its last answer (a promise left to reject) is reported, not silent. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startPlatform } from '../../src/platform.js';
import { call, eventually, tempDir } from '../helpers/platform.js';

describe('an instance that crashes while idle', () => {
  it('is reported in the platform output with its reason, and the next call starts a new one', async () => {
    const dir = tempDir('kindling-late-');
    writeFileSync(
      join(dir, 'index.js'),
      `exports.handler = async () => {
  setTimeout(() => Promise.reject(new Error('late boom')), 20);
  return 'answered';
};
`,
    );
    writeFileSync(join(dir, 'kindling.json'), JSON.stringify({ name: 'late' }));
    const lines: string[] = [];
    const p = await startPlatform({
      dataDir: tempDir(),
      port: 0,
      deploy: [dir],
      stemCells: 0,
      say: (l) => lines.push(l),
    });
    try {
      const first = await call(p.url, p.adminKey, 'POST', '/v1/functions/late/invoke', {});
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body, 'answered');
      const warning = await eventually(async () => lines.find((l) => /crashed/.test(l)));
      assert.match(
        warning,
        /^warning: default\/late@1: instance \S+ crashed \(an unhandled promise rejection: late boom\) while idle, after its last invocation had answered; the next invocation starts a new one/,
      );
      const next = await call(p.url, p.adminKey, 'POST', '/v1/functions/late/invoke', {});
      assert.equal(next.status, 200, next.text);
      assert.equal(next.headers.get('x-kindling-cold'), '1');
    } finally {
      await p.close();
    }
  });
});
