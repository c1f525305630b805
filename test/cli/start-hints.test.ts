/** What `kindling up` suggests trying: only what exists, reachable as printed. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shellWord, startHints } from '../../src/cli/start-hints.js';

const url = 'http://127.0.0.1:8080';
const examples = ['/pkg/examples/dates', '/pkg/examples/hello', '/pkg/examples/http-api'];

describe('startHints', () => {
  it('suggests the deployed examples, with the default data directory left implicit', () => {
    assert.deepEqual(startHints({ url, dataDir: '/home/u/app/.kindling', examples, cwd: '/home/u/app' }), [
      `  try:  npx kindling invoke hello --data '{"name":"you"}'`,
      `        curl -H "Authorization: Bearer $(cat /home/u/app/.kindling/admin-key)" ${url}/fn/http-api/`,
    ]);
  });

  it('names another data directory the way the CLI finds it (KINDLING_DATA)', () => {
    const [invoke] = startHints({ url, dataDir: '/tmp/x', examples, cwd: '/home/u/app' });
    assert.equal(invoke, `  try:  KINDLING_DATA=/tmp/x npx kindling invoke hello --data '{"name":"you"}'`);
    const [quoted] = startHints({ url, dataDir: "/tmp/my data's", examples, cwd: '/' });
    assert.match(quoted!, /^ {2}try: {2}KINDLING_DATA='\/tmp\/my data'\\''s' npx kindling invoke hello/);
  });

  it('suggests a deploy when no example is deployed, and names only examples that are', () => {
    const none = startHints({ url, dataDir: '/tmp/x', examples: [], cwd: '/' });
    assert.equal(none.length, 2);
    assert.match(none[0]!, /^ {2}deploy: {2}KINDLING_DATA=\/tmp\/x npx kindling deploy DIR --name NAME/);
    assert.match(none[1]!, /^ {2}invoke: {2}KINDLING_DATA=\/tmp\/x npx kindling invoke NAME/);
    assert.doesNotMatch(none.join('\n'), /hello|http-api/);
    const onlyHttp = startHints({ url, dataDir: '/a/.kindling', examples: ['/e/http-api'], cwd: '/a' });
    assert.deepEqual(onlyHttp, [
      `  try:  curl -H "Authorization: Bearer $(cat /a/.kindling/admin-key)" ${url}/fn/http-api/`,
    ]);
  });

  it('quotes shell words only when needed', () => {
    assert.equal(shellWord('/tmp/kindling-1.x_y'), '/tmp/kindling-1.x_y');
    assert.equal(shellWord('/tmp/a b'), "'/tmp/a b'");
    assert.equal(shellWord("it's"), "'it'\\''s'");
    assert.equal(shellWord('$(rm -rf /)'), "'$(rm -rf /)'");
  });
});
