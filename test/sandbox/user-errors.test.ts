import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { noHandlerMessage, userPaths, userStack } from '../../src/sandbox/process/user-errors.cjs';

const store = {
  codeDir: '/data/worker/images/abc123',
  functionName: 'hello',
  runtimeFiles: ['/app/runtime.cjs'],
};
const container = { codeDir: '/fn', functionName: 'pics' };

describe('user-facing error wording', () => {
  it('writes paths inside the code directory as <function>/<file>, plain or as file:// URLs', () => {
    assert.equal(userPaths('/data/worker/images/abc123/index.cjs', store), 'hello/index.cjs');
    assert.equal(
      userPaths("Cannot find module '/fn/lib/x.js' from file:///fn/index.mjs", container),
      "Cannot find module 'pics/lib/x.js' from pics/index.mjs",
    );
  });

  it('leaves text that only contains the directory alone (a URL path, a longer directory)', () => {
    const text = 'GET https://example.com/fn/thumbs failed; see /fnord/log and /fn2/x';
    assert.equal(userPaths(text, container), text);
  });

  it('cuts the stack at the first frame of module loading or the runtime shim', () => {
    const stack = [
      'Error: boom',
      '    at helper (/data/worker/images/abc123/index.cjs:5:9)',
      '    at /data/worker/images/abc123/index.cjs:9:3',
      '    at run (/app/runtime.cjs:120:7)',
      '    at Module._compile (node:internal/modules/cjs/loader:1554:14)',
    ].join('\n');
    assert.equal(
      userStack(stack, store),
      ['Error: boom', '    at helper (hello/index.cjs:5:9)', '    at hello/index.cjs:9:3'].join('\n'),
    );
  });

  it('says what the module exports and which export to add, in its own module system', () => {
    const cjs = noHandlerMessage('hello/index.cjs', { foo: 'function', handler: 'object' }, 'commonjs');
    assert.match(
      cjs,
      /^hello\/index\.cjs exports no handler function \(its exports are "foo", "handler"; "handler" is an object, not a function\)/,
    );
    assert.match(cjs, /module\.exports = async \(event, context\)/);
    const esm = noHandlerMessage('hello/index.mjs', {}, 'esm');
    assert.match(esm, /it exports nothing/);
    assert.match(esm, /export default async/);
  });
});
