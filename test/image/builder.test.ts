import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { KindlingError } from '../../src/core/errors.js';
import { buildImage, type BuildProgress } from '../../src/image/builder.js';
import { tempDir, readBuiltFile, writeTree } from './helpers.js';

const { dir: root, cleanup } = tempDir('kindling-builder-');
after(cleanup);
let seq = 0;

/** A fresh function directory holding `files`. */
function fn(files: Parameters<typeof writeTree>[1]): string {
  const dir = join(root, `fn${++seq}`);
  mkdirSync(dir);
  writeTree(dir, files);
  return dir;
}

/** Imports the image's bundle and returns the module namespace. */
async function load(built: Awaited<ReturnType<typeof buildImage>>): Promise<Record<string, unknown>> {
  const out = join(root, `out${++seq}`);
  mkdirSync(out);
  writeFileSync(join(out, built.manifest.entry), await readBuiltFile(built, built.manifest.entry));
  return (await import(pathToFileURL(join(out, built.manifest.entry)).href)) as Record<string, unknown>;
}

const isCode = (code: string) => (err: unknown) => KindlingError.is(err) && err.code === code;

describe('buildImage', () => {
  it('bundles a TypeScript entry and hands back the rest of kindling.json', async () => {
    const dir = fn({
      'kindling.json': JSON.stringify({ name: 'hello', memoryMb: 256, env: { A: '1' }, bundle: true }),
      'index.ts': `import { greet, Tone } from './lib/greet';\nexport async function handler(e: { who: string }): Promise<string> { return greet(e.who, Tone.Loud); }\n`,
      'lib/greet.ts': `export enum Tone { Quiet, Loud }\nexport function greet(who: string, t: Tone): string { return t === Tone.Loud ? 'HELLO ' + who.toUpperCase() : 'hello ' + who; }\n`,
    });
    const events: BuildProgress[] = [];
    const built = await buildImage(dir, { onProgress: (e) => events.push(e) });
    assert.equal(built.name, 'hello');
    assert.deepEqual(built.config, { memoryMb: 256, env: { A: '1' } });
    assert.equal(built.manifest.entry, 'index.cjs', 'bundles are CommonJS when the code allows');
    assert.deepEqual(
      built.manifest.files.map((f) => f.path),
      ['index.cjs', 'index.cjs.map'],
    );
    assert.equal(built.stats.files, 2);
    assert.equal(built.stats.blocks, 1);
    // The source map names the sources from the function directory, without their text.
    const map = JSON.parse((await readBuiltFile(built, 'index.cjs.map')).toString()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(map.sources, ['index.ts', 'lib/greet.ts']);
    assert.equal(map.sourcesContent, undefined);
    assert.doesNotMatch(
      (await readBuiltFile(built, 'index.cjs')).toString(),
      /sourceMappingURL/,
      'Node must not read the map at start',
    );
    assert.deepEqual(
      events.map((e) => e.phase),
      ['bundle', 'pack'],
    );
    assert.deepEqual(events.at(-1), {
      phase: 'pack',
      done: 1,
      total: 1,
      bytesDone: built.stats.bytes,
      bytesTotal: built.stats.bytes,
    });
    const mod = await load(built);
    assert.equal(await (mod['handler'] as (e: unknown) => Promise<string>)({ who: 'ann' }), 'HELLO ANN');
  });

  it('keeps the exports of a CommonJS entry, including bundled CJS code that requires built-ins', async () => {
    const dir = fn({
      'package.json': JSON.stringify({ name: 'cjs-fn', main: 'handler.js' }),
      'handler.js': `const path = require('node:path');\nconst pad = require('pad-it');\nexports.handler = async (e) => pad(path.basename(e.p));\nexports.main = () => 'main';\n`,
      'node_modules/pad-it/package.json': JSON.stringify({
        name: 'pad-it',
        version: '1.0.0',
        main: 'index.js',
      }),
      'node_modules/pad-it/index.js': `const os = require('os');\nmodule.exports = (s) => '[' + s + ']' + (typeof os.EOL);\n`,
    });
    const built = await buildImage(dir);
    const mod = await load(built);
    const exported = mod['default'] as { handler: (e: unknown) => Promise<string>; main: () => string };
    assert.equal(await exported.handler({ p: '/a/b/c.txt' }), '[c.txt]string');
    assert.equal(exported.main(), 'main');
    // Bundled: the dependency is inside index.cjs, not shipped as a file (beside it, only the map).
    assert.deepEqual(
      built.manifest.files.map((f) => f.path),
      ['index.cjs', 'index.cjs.map'],
    );
  });

  it('bundles code with top-level await as an ES module, and gives CommonJS bundles a working import.meta', async () => {
    const tla = await buildImage(
      fn({
        'index.mjs': `const table = await Promise.resolve([1, 2]);\nexport default async () => table.length;\n`,
      }),
    );
    assert.equal(tla.manifest.entry, 'index.mjs');
    assert.equal(await ((await load(tla)) as { default: () => Promise<number> }).default(), 2);

    const meta = await buildImage(
      fn({ 'index.mjs': `export const handler = async () => [import.meta.url, import.meta.filename];\n` }),
    );
    assert.equal(meta.manifest.entry, 'index.cjs');
    const [url, filename] = await ((await load(meta)) as { handler: () => Promise<string[]> }).handler();
    assert.match(url!, /^file:\/\/.*index\.cjs$/);
    assert.match(filename!, /index\.cjs$/);
  });

  it('reports build errors as file:line:col with what to fix', async () => {
    const dir = fn({
      'index.ts': `import missing from 'no-such-package';\nexport const handler = () => missing;\n`,
    });
    await assert.rejects(buildImage(dir), (err: unknown) => {
      assert.ok(KindlingError.is(err) && err.code === 'KINDLING_BUILD_FAILED', String(err));
      assert.match(err.message, /index\.ts:1:21: Could not resolve "no-such-package"/);
      assert.match(err.message, /package\.json "dependencies"/);
      assert.match(err.message, /Fix it and deploy again/);
      assert.deepEqual(err.details?.['errors'], [
        { file: 'index.ts', line: 1, column: 21, text: 'Could not resolve "no-such-package"' },
      ]);
      return true;
    });
    const syntax = fn({ 'index.ts': `export const handler = () => {\n  return 1 +;\n};\n` });
    await assert.rejects(buildImage(syntax), (err: unknown) => {
      assert.ok(KindlingError.is(err) && err.code === 'KINDLING_BUILD_FAILED');
      assert.match(err.message, /index\.ts:2:\d+: /);
      return true;
    });
  });

  it('installs a dependency given as a local path (file:./vendor/x), and again when it changes', async () => {
    const dir = fn({
      'index.js': `const pad = require('pad-local');\nexports.handler = () => pad('x');\n`,
      'package.json': JSON.stringify({
        name: 'uses-local',
        dependencies: { 'pad-local': 'file:./vendor/pad' },
      }),
      'vendor/pad/package.json': JSON.stringify({ name: 'pad-local', version: '1.0.0', main: 'index.js' }),
      'vendor/pad/index.js': `module.exports = (s) => '<' + s + '>';\n`,
    });
    const cacheDir = join(root, `deps${++seq}`);
    const run = async () => {
      const built = await buildImage(dir, { cacheDir });
      const code = (await readBuiltFile(built, 'index.cjs')).toString();
      const m = { exports: {} as { handler: () => string } };
      new Function('module', 'exports', 'require', code)(m, m.exports, () => ({}));
      return m.exports.handler();
    };
    assert.equal(await run(), '<x>');
    writeFileSync(join(dir, 'vendor/pad/index.js'), `module.exports = (s) => '[' + s + ']';\n`);
    assert.equal(await run(), '[x]', 'the changed local package is installed again');
    // A package outside the function's directory, by a relative path that climbs out of it.
    writeTree(join(root, 'shared-pad'), {
      'package.json': JSON.stringify({ name: 'pad-shared', version: '1.0.0', main: 'index.js' }),
      'index.js': `module.exports = (s) => '{' + s + '}';\n`,
    });
    const outside = fn({
      'index.js': `const pad = require('pad-shared');\nexports.handler = () => pad('y');\n`,
      'package.json': JSON.stringify({
        name: 'uses-shared',
        dependencies: { 'pad-shared': 'file:../shared-pad' },
      }),
    });
    const built = await buildImage(outside, { cacheDir });
    const m = { exports: {} as { handler: () => string } };
    new Function('module', 'exports', 'require', (await readBuiltFile(built, 'index.cjs')).toString())(
      m,
      m.exports,
      () => ({}),
    );
    assert.equal(m.exports.handler(), '{y}');
  });

  it('is deterministic: the same directory gives the same manifest digest', async () => {
    const dir = fn({ 'index.js': 'export const handler = () => 42;\n', 'kindling.json': '{"bundle":false}' });
    const a = await buildImage(dir);
    const b = await buildImage(dir);
    assert.equal(a.digest, b.digest);
    assert.deepEqual(a.manifestBytes, b.manifestBytes);
    assert.deepEqual([...a.blocks.keys()], [...b.blocks.keys()]);
  });

  it('ships no source map with "sourceMap": false, and names bundled dependencies from node_modules', async () => {
    const files = {
      'index.ts': `import pad from 'left-pad-ish';\nexport const handler = () => pad('x');\n`,
      'node_modules/left-pad-ish/package.json': JSON.stringify({ name: 'left-pad-ish', main: 'index.js' }),
      'node_modules/left-pad-ish/index.js': `module.exports = (s) => ' ' + s;\n`,
    };
    const mapped = await buildImage(fn(files));
    const map = JSON.parse((await readBuiltFile(mapped, 'index.cjs.map')).toString()) as {
      sources: string[];
    };
    assert.deepEqual(map.sources, ['node_modules/left-pad-ish/index.js', 'index.ts']);
    const bare = await buildImage(fn({ ...files, 'kindling.json': JSON.stringify({ sourceMap: false }) }));
    assert.deepEqual(
      bare.manifest.files.map((f) => f.path),
      ['index.cjs'],
    );
    assert.deepEqual(bare.config, {}, 'sourceMap is a build key, not function configuration');
  });

  it('rejects missing entries and bad build keys with the fix in the message', async () => {
    await assert.rejects(buildImage(fn({ 'README.md': 'hi' })), (err: unknown) => {
      assert.ok(isCode('KINDLING_BUILD_FAILED')(err));
      assert.match((err as Error).message, /set "entry" in kindling\.json.*index\.ts/);
      return true;
    });
    await assert.rejects(
      buildImage(fn({ 'index.js': '', 'kindling.json': '{"bundle":"yes"}' })),
      (err: unknown) =>
        isCode('KINDLING_INVALID_CONFIG')(err) &&
        /: bundle must be true or false, got "yes"$/.test((err as Error).message),
    );
    await assert.rejects(
      buildImage(fn({ 'index.js': '', 'kindling.json': '{"sourceMap":1}' })),
      (err: unknown) =>
        isCode('KINDLING_INVALID_CONFIG')(err) &&
        /: sourceMap must be true or false, got 1$/.test((err as Error).message),
    );
    await assert.rejects(
      buildImage(fn({ 'index.js': '', 'kindling.json': '{"entry":"../x.js"}' })),
      isCode('KINDLING_INVALID_CONFIG'),
    );
    await assert.rejects(
      buildImage(fn({ 'index.ts': '', 'kindling.json': '{"bundle":false}' })),
      isCode('KINDLING_BUILD_FAILED'),
    );
  });

  it('ships external packages and their dependencies in node_modules, and nothing else', async () => {
    const dir = fn({
      'kindling.json': JSON.stringify({ external: ['ext-a'] }),
      'index.mjs': `import a from 'ext-a';\nexport const handler = () => a();\n`,
      'node_modules/ext-a/package.json': JSON.stringify({
        name: 'ext-a',
        main: 'index.js',
        dependencies: { 'ext-b': '1' },
      }),
      'node_modules/ext-a/index.js': `const b = require('ext-b'); module.exports = () => 'a' + b;\n`,
      'node_modules/ext-b/package.json': JSON.stringify({ name: 'ext-b', main: 'index.js' }),
      'node_modules/ext-b/index.js': `module.exports = 'b';\n`,
      'node_modules/unused/index.js': `module.exports = 'never shipped';\n`,
      'node_modules/.cache/junk': 'x',
    });
    const built = await buildImage(dir);
    assert.deepEqual(
      built.manifest.files.map((f) => f.path),
      [
        'node_modules/ext-a/index.js',
        'node_modules/ext-a/package.json',
        'node_modules/ext-b/index.js',
        'node_modules/ext-b/package.json',
        'index.cjs',
        'index.cjs.map',
      ],
    );
    assert.equal(built.manifest.layers.length, 2);
    assert.match((await readBuiltFile(built, 'index.cjs')).toString(), /require\("ext-a"\)/);
  });

  it('installs dependencies into a cache when there is no node_modules, and reuses it', async () => {
    const dep = fn({
      'package.json': JSON.stringify({ name: 'local-dep', version: '1.0.0', main: 'index.js' }),
      'index.js': 'exports.x = 42;\n',
    });
    const dir = fn({
      'package.json': JSON.stringify({
        name: 'uses-dep',
        version: '1.0.0',
        dependencies: { 'local-dep': `file:${dep}` },
      }),
      'index.js': `const { x } = require('local-dep');\nexports.handler = () => x;\n`,
    });
    const cacheDir = join(root, 'deps-cache');
    const events: string[] = [];
    const first = await buildImage(dir, { cacheDir, onProgress: (e) => events.push(e.phase) });
    assert.equal(events[0], 'install');
    const mod = await load(first);
    assert.equal((mod['default'] as { handler: () => number }).handler(), 42);
    assert.equal(readdirSync(cacheDir).length, 1, 'one cache entry, no temp dirs left');
    // The second build must not run npm: with no PATH it could not.
    const path = process.env['PATH'];
    process.env['PATH'] = '';
    try {
      const second = await buildImage(dir, { cacheDir });
      assert.equal(second.digest, first.digest);
    } finally {
      process.env['PATH'] = path;
    }
  });
});
