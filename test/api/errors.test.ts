/**
 * The API's promise that a malformed request is a 4xx whose message says what to fix, and that a
 * function's own faults are reported in its author's terms: checked end to end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fixture, startTestPlatform, tempDir } from '../helpers/platform.js';

type P = Awaited<ReturnType<typeof startTestPlatform>>;

describe('errors that say what to fix', () => {
  let p: P;
  const dataDir = tempDir();
  before(async () => {
    p = await startTestPlatform(
      [fixture('echo'), fixture('throws'), fixture('init-fails'), fixture('no-handler')],
      dataDir,
    );
  });
  after(async () => p.close());

  it('refuses a bad function name with the function-name rule on every deploy path', async () => {
    const echo = p.functions.resolve('default', 'echo');
    for (const name of ['Bad_Name', '-lead']) {
      const res = await p.call('POST', `/v1/functions/${name}/versions`, { digest: echo.imageDigest });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.error.code, 'KINDLING_INVALID_NAME');
      assert.match(res.body.error.message, /^invalid function name/);
      await assert.rejects(p.deployer.deployDirectory('default', fixture('echo'), name), (err: Error) => {
        assert.match(err.message, /^invalid function name .*lowercase letters, digits and '-'/);
        assert.doesNotMatch(err.message, /repository/);
        return true;
      });
    }
  });

  it('answers a module without a handler with 502 KINDLING_NO_HANDLER naming its real exports', async () => {
    const res = await p.call('POST', '/v1/functions/no-handler/invoke', {});
    assert.equal(res.status, 502, res.text);
    const { code, message, details } = res.body.error;
    assert.equal(code, 'KINDLING_NO_HANDLER');
    assert.deepEqual(details.exports, ['foo'], 'module.exports is not reported as an export named default');
    assert.match(message, /^no-handler\/index\.cjs exports no handler function \(its exports are "foo"\)/);
    assert.match(message, /`module\.exports = async \(event, context\) => \{ … \}`/);
    assert.match(message, /`exports\.handler = async \(event, context\) => \{ … \}`/);
    assert.doesNotMatch(message, /export default/, 'CommonJS code is told the CommonJS way');
    assert.equal(res.headers.get('x-kindling-error'), 'KINDLING_NO_HANDLER');
  });

  it("names the function's files, not the image store, in init failures and handler stacks", async () => {
    const init = await p.call('POST', '/v1/functions/init-fails/invoke', {});
    assert.equal(init.status, 502, init.text);
    assert.equal(init.body.error.code, 'KINDLING_INIT_FAILED');
    assert.match(init.body.error.message, /^loading init-fails\/index\.cjs failed: /);
    // The bundle's frames, mapped back to the source the author wrote (index.mjs, line 1).
    assert.match(init.body.error.details.stack, /init-fails\/index\.mjs:1:7/);
    const thrown = await p.call('POST', '/v1/functions/throws/invoke', {});
    assert.equal(thrown.body.error.code, 'KINDLING_HANDLER_ERROR');
    const stack: string = thrown.body.error.details.stack;
    assert.match(stack, /at handler \(throws\/index\.mjs:2:9\)/);
    assert.doesNotMatch(stack, /runtime\.cjs|node:internal/, 'the runtime shim is not the author’s code');
    for (const res of [init, thrown]) {
      assert.ok(!res.text.includes(dataDir), res.text);
      assert.doesNotMatch(res.text, /images\/[0-9a-f]{64}/);
    }
  });

  it('gives every route the same KINDLING_INVALID_JSON error for a body that does not parse', async () => {
    const routes: [string, string][] = [
      ['PUT', '/v1/functions/echo/aliases/prod'],
      ['POST', '/v1/functions/echo/invoke'],
      ['POST', '/v1/functions/echo/versions'],
      ['POST', '/v1/tenants'],
    ];
    for (const [method, path] of routes) {
      const res = await p.call(method, path, '{"version": 1,');
      assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.error.code, 'KINDLING_INVALID_JSON', path);
      assert.match(
        res.body.error.message,
        /^the request body is not valid JSON: .*JSON.*; send a JSON document$/,
        path,
      );
      assert.equal(typeof res.body.error.details.reason, 'string', path);
    }
    const empty = await p.call('PUT', '/v1/functions/echo/aliases/prod', '');
    assert.equal(empty.body.error.code, 'KINDLING_INVALID_JSON', empty.text);
    assert.match(empty.body.error.message, /not valid JSON: the body is empty/);
    const poisoned = await p.call('PUT', '/v1/functions/echo/aliases/prod', '{"__proto__": {"x": 1}}');
    assert.equal(poisoned.body.error.code, 'KINDLING_INVALID_JSON', poisoned.text);
    // JSON nested deeper than the stack parses but cannot be written back: a 400 sync and async alike.
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    for (const path of ['/v1/functions/echo/invoke', '/v1/functions/echo/invoke?mode=async']) {
      const res = await p.call('POST', path, deep);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.equal(res.body.error.code, 'KINDLING_INVALID_JSON', path);
      assert.match(res.body.error.message, /^the event cannot be serialised to JSON: /, path);
    }
  });

  it('words validation failures as the field, the rule and the value sent', async () => {
    const cases: [string, string, unknown, string][] = [
      [
        'PUT',
        '/v1/functions/echo/aliases/prod',
        { version: 'abc' },
        'invalid alias request: version must be a positive integer (a version number such as 3), got "abc"',
      ],
      [
        'PUT',
        '/v1/functions/echo/aliases/prod',
        { version: 1.5 },
        'invalid alias request: version must be a positive integer (a version number such as 3), got 1.5',
      ],
      [
        'PUT',
        '/v1/functions/echo/aliases/prod',
        {},
        'invalid alias request: version must be a positive integer (a version number such as 3)',
      ],
      [
        'GET',
        '/v1/functions/echo/versions/abc',
        undefined,
        'version must be a positive integer (a version number such as 3), got "abc"',
      ],
      ['PUT', '/v1/functions/echo/aliases/prod', [1], 'alias request must be a JSON object, got [1]'],
      ['POST', '/v1/tenants', { name: 7 }, 'invalid tenant request: name must be a string, got 7'],
      // An unknown field is refused on every body, as kindling.json refuses one (a typo is not ignored).
      [
        'POST',
        '/v1/tenants',
        { name: 'beta', extra: 1 },
        'tenant request has unknown field "extra"; remove it',
      ],
      [
        'PUT',
        '/v1/functions/echo/aliases/prod',
        { version: 1, verison: 2 },
        'alias request has unknown field "verison"; remove it',
      ],
      [
        'POST',
        '/v1/functions/echo/versions',
        { digest: `sha256:${'a'.repeat(64)}`, junk: 1 },
        'deploy request has unknown field "junk"; remove it',
      ],
      [
        'GET',
        '/v1/functions/echo/invocations?limit=0',
        undefined,
        'invalid query: limit must be at least 1, got "0"',
      ],
    ];
    for (const [method, path, body, message] of cases) {
      const res = await p.call(method, path, body);
      assert.equal(res.status, 400, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.error.message, message, `${method} ${path}`);
    }
    const echo = p.functions.resolve('default', 'echo');
    const config = await p.call('POST', '/v1/functions/echo/versions', {
      digest: echo.imageDigest,
      config: { memoryMb: 'lots', colour: 'red' },
    });
    assert.equal(config.body.error.code, 'KINDLING_INVALID_CONFIG', config.text);
    assert.match(config.body.error.message, /has unknown field "colour"; remove it/);
    assert.match(config.body.error.message, /memoryMb must be a number, got "lots"/);
    assert.doesNotMatch(config.body.error.message, /Invalid input|expected|received|\(root\)/);
  });

  it('answers an unknown tenant with 404 and a wrong method with 405 and Allow', async () => {
    const list = await p.call('GET', '/v1/functions?tenant=nosuch');
    assert.equal(list.status, 404, list.text);
    assert.equal(list.body.error.code, 'KINDLING_TENANT_NOT_FOUND');
    assert.match(list.body.error.message, /no tenant "nosuch"/);
    const invoke = await p.call('POST', '/v1/functions/echo/invoke?tenant=nosuch', {});
    assert.equal(invoke.body.error.code, 'KINDLING_TENANT_NOT_FOUND', invoke.text);
    // A tenant's key learns nothing about other tenants: still 403, whether or not the tenant exists.
    const { apiKey } = p.tenants.createTenant('errors-tenant');
    const foreign = await p.call('GET', '/v1/functions?tenant=nosuch', undefined, apiKey);
    assert.equal(foreign.status, 403, foreign.text);

    const get = await p.call('GET', '/v1/functions/echo/invoke');
    assert.equal(get.status, 405, get.text);
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal(get.body.error.code, 'KINDLING_METHOD_NOT_ALLOWED');
    assert.match(get.body.error.message, /does not accept GET; use POST/);
    const del = await p.call('DELETE', '/v1/functions/echo/versions');
    assert.equal(del.status, 405, del.text);
    assert.deepEqual(del.headers.get('allow')?.split(', '), ['GET', 'HEAD', 'POST']);
    const missing = await p.call('GET', '/v1/nothing-here');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('allow'), null);
  });
});
