/**
 * On-demand fault-in in the process and container tiers: a function whose image is still arriving reads files that
 * are not written yet (by `fs` calls, `require` of a relative module and of a package, a directory
 * listing) and gets their contents, each asked for once, while files that are not part of the image
 * stay missing at once. The host's side is played by a `pending.fetch` that writes files late.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createContainerTier } from '../../src/sandbox/container/index.js';
import { threadArgv } from '../../src/sandbox/process/fault-in-descendants.cjs';
import { isEsModule } from '../../src/sandbox/process/fault-in.cjs';
import { withoutSnapshotFlags } from '../../src/sandbox/process/runtime.cjs';
import { createProcessTier } from '../../src/sandbox/process/index.js';
import type { PendingFiles, SandboxTier } from '../../src/sandbox/tier.js';
import { assertResult } from './compliance.js';
import { specFor } from './fixtures.js';

const require = createRequire(import.meta.url);

const HANDLER = `
const fs = require('node:fs');
const path = require('node:path');
exports.handler = async (event) => {
  if (event.step === 'init-only') return 'ok';
  return {
    text: fs.readFileSync(path.join(__dirname, 'data/a.txt'), 'utf8'),
    late: require('./lib/late.cjs').value,
    pkg: require('dep').value,
    promised: await fs.promises.readFile(path.join(__dirname, 'data/b.txt'), 'utf8'),
    listed: fs.readdirSync(path.join(__dirname, 'more')).sort(),
    size: fs.statSync(path.join(__dirname, 'more/c.bin')).size,
    notInImage: fs.existsSync(path.join(__dirname, 'data/nope.txt')),
  };
};
`;

/** The files the image has but the directory does not yet: what `fetch` writes on request. */
const LATE: Record<string, string> = {
  'data/a.txt': 'alpha',
  'data/b.txt': 'bravo',
  'lib/late.cjs': 'exports.value = 42;',
  'node_modules/dep/package.json': JSON.stringify({ name: 'dep', main: 'lib/main.js' }),
  'node_modules/dep/lib/main.js': "exports.value = require('./helper.js').v + 1;",
  'node_modules/dep/lib/helper.js': 'exports.v = 6;',
  'more/c.bin': 'x'.repeat(1000),
  'more/d.txt': 'delta',
};

describe('process and container tiers: on-demand fault-in of a lazily loaded image', () => {
  let root: string;
  let tier: SandboxTier;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kindling-fault-in-'));
    tier = createProcessTier();
  });
  after(async () => {
    await tier.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A code directory with only the entry (and the image's directories), and a host that writes late. */
  async function lazyImage(
    name: string,
    late: Record<string, string | Buffer> = LATE,
    present: Record<string, string> = { 'index.cjs': HANDLER },
  ): Promise<{ codeDir: string; pending: PendingFiles; asked: string[][] }> {
    const codeDir = join(root, name);
    for (const rel of Object.keys(late)) await mkdir(dirname(join(codeDir, rel)), { recursive: true });
    for (const [rel, body] of Object.entries(present)) {
      await mkdir(dirname(join(codeDir, rel)), { recursive: true });
      await writeFile(join(codeDir, rel), body);
    }
    await writeFile(join(codeDir, '.kindling-pending.json'), JSON.stringify(Object.keys(late)));
    const asked: string[][] = [];
    const pending: PendingFiles = {
      listFile: '.kindling-pending.json',
      fetch: async (paths) => {
        asked.push([...paths]);
        await new Promise((r) => setTimeout(r, 20)); // the blocks' trip over the network
        for (const rel of paths) {
          const body = late[rel];
          if (body === undefined) continue;
          await writeFile(join(codeDir, `${rel}.part`), body);
          await rename(join(codeDir, `${rel}.part`), join(codeDir, rel));
        }
      },
    };
    return { codeDir, pending, asked };
  }

  const variants: Array<[label: string, make: () => Promise<{ tier: SandboxTier; path: string }>]> = [
    ['plain start', async () => ({ tier, path: 'plain' })],
    [
      'stem cell',
      async () => {
        const t = createProcessTier({ stemCells: { perMemoryMb: 1, memoryMb: [128] } });
        await t.stemCellsSettled();
        return { tier: t, path: 'stem-cell' };
      },
    ],
    [
      'runtime snapshot',
      async () => {
        const t = createProcessTier({ snapshots: { dir: join(root, 'snapshots'), runtime: 'always' } });
        await t.runtimeSnapshotFor(128);
        return { tier: t, path: 'runtime-snapshot' };
      },
    ],
    // The container sees the code directory at /fn: the same relative paths, another root.
    ['container', async () => ({ tier: createContainerTier(), path: 'plain' })],
    [
      'container stem cell',
      async () => {
        const t = createContainerTier({ stemCells: { perMemoryMb: 1 } });
        // The first start tells the pool which memory size to keep cells of.
        const warmup = join(root, 'warmup');
        await mkdir(warmup, { recursive: true });
        await writeFile(join(warmup, 'index.cjs'), 'exports.handler = async () => 1;');
        await (await t.start(specFor(warmup, 'index.cjs'))).stop();
        await t.cellsSettled();
        return { tier: t, path: 'stem-cell' };
      },
    ],
  ];
  for (const [label, makeTier] of variants) {
    test(`${label}: reads, requires and lists files that arrive on demand`, async () => {
      const { tier: t, path } = await makeTier();
      const image = await lazyImage(label.replace(/\W/g, '-'));
      try {
        const instance = await t.start(specFor(image.codeDir, 'index.cjs', { pending: image.pending }));
        try {
          assert.equal(instance.timings.startPath, path);
          assert.equal(
            assertResult(
              await instance.invoke({ requestId: 'r0', event: { step: 'init-only' }, timeoutMs: 5000 }),
            ),
            'ok',
          );
          assert.deepEqual(image.asked, [], 'nothing asked for before the function reads it');
          const result = assertResult(
            await instance.invoke({ requestId: 'r1', event: {}, timeoutMs: 10_000 }),
          );
          assert.deepEqual(result, {
            text: 'alpha',
            late: 42,
            pkg: 7,
            promised: 'bravo',
            listed: ['c.bin', 'd.txt'],
            size: 1000,
            notInImage: false,
          });
          const askedFor = image.asked.flat();
          assert.equal(
            new Set(askedFor).size,
            askedFor.length,
            `each file asked for once: ${askedFor.join(', ')}`,
          );
          assert.deepEqual(new Set(askedFor), new Set(Object.keys(LATE)));
        } finally {
          await instance.stop();
        }
      } finally {
        if (t !== tier) await t.close();
      }
    });
  }

  test("what Node's resolution and fs do around a fault: package main, package scope, deep listings, copies, a busy channel", async () => {
    const edge = `
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
exports.handler = async () => {
  // A log batch bigger than the channel's socket buffer, still queued when the fault happens.
  console.log('x'.repeat(400_000));
  await new Promise((r) => setTimeout(r, 0));
  const afterLog = fs.readFileSync(path.join(__dirname, 'data/after-log.txt'), 'utf8');
  // A module inside a package first, by path: Node then looks up the package's scope.
  const helper = require(path.join(__dirname, 'node_modules/dep2/lib/helper.js')).h;
  const copy = path.join(os.tmpdir(), 'kindling-fault-copy-' + process.pid);
  fs.copyFileSync(path.join(__dirname, 'data/copy-me.txt'), copy);
  const copied = fs.readFileSync(copy, 'utf8');
  fs.rmSync(copy);
  return {
    afterLog,
    helper,
    dep2: require('dep2').v,
    main: require('typ').v,
    deep: fs.readdirSync(path.join(__dirname, 'deep'), { recursive: true }).sort(),
    copied,
  };
};
`;
    const late = {
      'data/after-log.txt': 'after the log',
      'data/copy-me.txt': 'copied',
      'node_modules/dep2/package.json': JSON.stringify({ name: 'dep2', main: 'lib/main.js' }),
      'node_modules/dep2/lib/main.js': "exports.v = require('./helper.js').h + '!';",
      'node_modules/dep2/lib/helper.js': "exports.h = 'helped';",
      // Its main is late too, while an index.js is there: Node would fall back to it.
      'node_modules/typ/package.json': JSON.stringify({ name: 'typ', main: 'm.js' }),
      'node_modules/typ/m.js': "exports.v = 'main';",
      'deep/a/b/c.txt': 'c',
      'deep/top.txt': 't',
    };
    const image = await lazyImage('edge', late, {
      'index.cjs': edge,
      'node_modules/typ/index.js': "exports.v = 'index';",
    });
    const instance = await tier.start(
      specFor(image.codeDir, 'index.cjs', { pending: image.pending, logLimitBytes: 1024 * 1024 }),
    );
    try {
      const result = assertResult(await instance.invoke({ requestId: 'edge', event: {}, timeoutMs: 20_000 }));
      assert.deepEqual(result, {
        afterLog: 'after the log',
        helper: 'helped',
        dep2: 'helped!',
        main: 'main',
        deep: ['a', 'a/b', 'a/b/c.txt', 'top.txt'],
        copied: 'copied',
      });
      assert.deepEqual(new Set(image.asked.flat()), new Set(Object.keys(late)));
    } finally {
      await instance.stop();
    }
  });

  test('an ES module entry: static and dynamic imports, an ES package with exports, a CommonJS package', async () => {
    const entry = `
import { v as early } from './lib/static.mjs';
export default async () => {
  const late = await import('./lib/late.mjs');
  const esm = await import('esm-dep');
  const cjs = (await import('cdep')).default;
  return { early, late: late.v, esm: esm.v, cjs: cjs.value };
};
`;
    const late = {
      'lib/static.mjs': "export const v = 'static';",
      'lib/late.mjs': "export const v = 'late';",
      'node_modules/esm-dep/package.json': JSON.stringify({
        name: 'esm-dep',
        type: 'module',
        exports: './src/main.js',
      }),
      'node_modules/esm-dep/src/main.js': "import { h } from './helper.js'; export const v = h + '!';",
      'node_modules/esm-dep/src/helper.js': "export const h = 'esm';",
      'node_modules/cdep/package.json': JSON.stringify({ name: 'cdep', main: 'index.js' }),
      'node_modules/cdep/index.js': "exports.value = require('./more.js').m;",
      'node_modules/cdep/more.js': "exports.m = 'cjs';",
    };
    const image = await lazyImage('esm', late, { 'index.mjs': entry });
    const instance = await tier.start(specFor(image.codeDir, 'index.mjs', { pending: image.pending }));
    try {
      const result = assertResult(await instance.invoke({ requestId: 'esm', event: {}, timeoutMs: 20_000 }));
      assert.deepEqual(result, { early: 'static', late: 'late', esm: 'esm!', cjs: 'cjs' });
      assert.deepEqual(new Set(image.asked.flat()), new Set(Object.keys(late)));
    } finally {
      await instance.stop();
    }
  });

  test('worker threads (CommonJS and ES module entries, SHARE_ENV) and a native addon loaded by process.dlopen', async () => {
    const entry = `
const path = require('node:path');
const { Worker, SHARE_ENV } = require('node:worker_threads');
const run = (file, options = {}) =>
  new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, file), options);
    w.once('message', resolve);
    w.once('error', reject);
  });
exports.handler = async () => {
  const addon = { exports: {} };
  process.dlopen(addon, path.join(__dirname, 'native/addon.node'));
  return {
    cjs: await run('workers/w.cjs'),
    esm: await run('workers/w.mjs', { env: SHARE_ENV }),
    nested: await run('workers/outer.cjs'),
    native: Object.keys(addon.exports).length > 0,
  };
};
`;
    const late: Record<string, string | Buffer> = {
      'workers/w.cjs': `
const fs = require('node:fs');
const { parentPort } = require('node:worker_threads');
parentPort.postMessage(fs.readFileSync(require.resolve('./data.txt'), 'utf8') + require('thread-dep').v);`,
      'workers/data.txt': 'read by a thread, ',
      'node_modules/thread-dep/package.json': JSON.stringify({ name: 'thread-dep', main: 'main.js' }),
      'node_modules/thread-dep/main.js': "exports.v = 'required by a thread';",
      'workers/w.mjs': `
import { parentPort } from 'node:worker_threads';
import { v } from './esm-helper.mjs';
parentPort.postMessage(v);`,
      'workers/esm-helper.mjs': "export const v = 'imported by an ES module thread';",
      'workers/outer.cjs': `
const { Worker, parentPort } = require('node:worker_threads');
const inner = new Worker(require('node:path').join(__dirname, 'inner.cjs'));
inner.once('message', (m) => parentPort.postMessage('nested: ' + m));`,
      'workers/inner.cjs':
        "require('node:worker_threads').parentPort.postMessage(require('./inner-data.json').v);",
      'workers/inner-data.json': JSON.stringify({ v: 'a thread of a thread' }),
      // Any compiled addon for this Node does: better-sqlite3's, which the platform depends on.
      'native/addon.node': await readFile(
        join(dirname(require.resolve('better-sqlite3/package.json')), 'build/Release/better_sqlite3.node'),
      ),
    };
    const image = await lazyImage('threads', late, { 'index.cjs': entry });
    const instance = await tier.start(specFor(image.codeDir, 'index.cjs', { pending: image.pending }));
    try {
      const result = assertResult(
        await instance.invoke({ requestId: 'threads', event: {}, timeoutMs: 20_000 }),
      );
      assert.deepEqual(result, {
        cjs: 'read by a thread, required by a thread',
        esm: 'imported by an ES module thread',
        nested: 'nested: a thread of a thread',
        native: true,
      });
      assert.deepEqual(new Set(image.asked.flat()), new Set(Object.keys(late)));
    } finally {
      await instance.stop();
    }
  });

  const CHILDREN_ENTRY = `
const path = require('node:path');
const { fork, spawn, spawnSync, execFileSync } = require('node:child_process');
const output = (child) =>
  new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error('exit ' + code))));
  });
exports.handler = async () => {
  const forked = await new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'kids/forked.cjs'));
    child.once('message', resolve);
    child.once('error', reject);
  });
  return {
    forked,
    esm: await output(spawn(process.execPath, [path.join(__dirname, 'kids/child.mjs')])),
    notNode: spawnSync('cat', ['kids/plain.txt'], { cwd: __dirname, encoding: 'utf8' }).stdout,
    grandchild: execFileSync(process.execPath, [path.join(__dirname, 'kids/parent.cjs')], {
      stdio: 'pipe',
      encoding: 'utf8',
    }).trim(),
    nodeOptions: process.env.NODE_OPTIONS ?? null,
  };
};
`;
  const CHILDREN_LATE: Record<string, string> = {
    'kids/forked.cjs':
      "process.send(require('./forked-dep.cjs') + ' ' + (process.env.NODE_OPTIONS ?? 'no NODE_OPTIONS'));",
    'kids/forked-dep.cjs':
      "module.exports = require('node:fs').readFileSync(__dirname + '/forked.txt', 'utf8');",
    'kids/forked.txt': 'forked, read and required,',
    'kids/child.mjs': "import { v } from './child-dep.mjs'; console.log(v);",
    'kids/child-dep.mjs': "export const v = 'spawned ES module';",
    'kids/plain.txt': 'read by cat',
    'kids/parent.cjs':
      "const { execFileSync } = require('node:child_process'); process.stdout.write(execFileSync(process.execPath, [__dirname + '/grand.cjs'], { stdio: 'pipe' }));",
    'kids/grand.cjs': "console.log(require('./grand.json').v);",
    'kids/grand.json': JSON.stringify({ v: 'a child of a child' }),
  };
  for (const [label, makeTier] of variants.slice(0, 3)) {
    test(`${label}: child processes (fork, spawn of an ES module, a non-Node child, a grandchild) read on demand`, async () => {
      const { tier: t } = await makeTier();
      const image = await lazyImage(`kids-${label.replace(/\W/g, '-')}`, CHILDREN_LATE, {
        'index.cjs': CHILDREN_ENTRY,
      });
      try {
        const instance = await t.start(specFor(image.codeDir, 'index.cjs', { pending: image.pending }));
        try {
          const result = assertResult(
            await instance.invoke({ requestId: 'kids', event: {}, timeoutMs: 20_000 }),
          );
          assert.deepEqual(result, {
            forked: 'forked, read and required, no NODE_OPTIONS',
            esm: 'spawned ES module',
            notNode: 'read by cat',
            grandchild: 'a child of a child',
            nodeOptions: null,
          });
          assert.deepEqual(new Set(image.asked.flat()), new Set(Object.keys(CHILDREN_LATE)));
        } finally {
          await instance.stop();
        }
      } finally {
        if (t !== tier) await t.close();
      }
    });
  }

  test("a thread inherits the runtime's flags without those Node refuses in a thread's execArgv; fork() does not inherit the snapshot", () => {
    assert.deepEqual(threadArgv(['--max-old-space-size=74', '--max-semi-space-size=2', '--no-warnings']), [
      '--no-warnings',
    ]);
    assert.deepEqual(
      withoutSnapshotFlags([
        '--max-old-space-size=74',
        '--snapshot-blob',
        '/tmp/r.blob',
        '--snapshot-blob=/x',
        '--no-warnings',
      ]),
      ['--max-old-space-size=74', '--no-warnings'],
    );
  });

  test('ES module entries, which need the loader hooks, are told from CommonJS ones', async () => {
    const dir = join(root, 'kinds');
    await mkdir(join(dir, 'esm-pkg', 'src'), { recursive: true });
    await writeFile(join(dir, 'esm-pkg', 'package.json'), JSON.stringify({ type: 'module' }));
    assert.equal(isEsModule(join(dir, 'a.mjs'), dir), true);
    assert.equal(isEsModule(join(dir, 'a.cjs'), dir), false);
    assert.equal(isEsModule(join(dir, 'a.js'), dir), false, 'no package.json: CommonJS');
    assert.equal(
      isEsModule(join(dir, 'esm-pkg', 'src', 'a.js'), dir),
      true,
      'the nearest package.json says module',
    );
  });

  test('a complete image (no pending list) installs nothing and reads normally', async () => {
    const image = await lazyImage('complete');
    for (const [rel, body] of Object.entries(LATE)) await writeFile(join(image.codeDir, rel), body);
    await rm(join(image.codeDir, image.pending.listFile));
    const instance = await tier.start(specFor(image.codeDir, 'index.cjs', { pending: image.pending }));
    try {
      const result = assertResult(await instance.invoke({ requestId: 'r', event: {}, timeoutMs: 5000 })) as {
        pkg: number;
      };
      assert.equal(result.pkg, 7);
      assert.deepEqual(image.asked, []);
    } finally {
      await instance.stop();
    }
  });
});
