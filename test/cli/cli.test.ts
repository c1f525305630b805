/** The `kindling` command against a real platform process. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, example, fixture, runCli, startPlatformProcess, tempDir } from '../helpers/platform.js';
import { SOURCE_MAPPED } from '../sandbox/fixtures.js';

/** Full invocation IDs (UUIDv7), as `invoke` and `logs` print them. */
const INVOCATION_ID = /\b[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\b/g;

describe('kindling CLI', () => {
  let dataDir: string;
  let platform: Awaited<ReturnType<typeof startPlatformProcess>>;
  const cli = (...args: string[]) => runCli([...args, '--data-dir', dataDir]);

  before(async () => {
    dataDir = tempDir();
    platform = await startPlatformProcess(dataDir);
  });
  after(async () => {
    platform.child.kill('SIGTERM');
    await new Promise((r) => platform.child.once('exit', r));
  });

  it('deploys, invokes cold then warm, and explains the phases', () => {
    const deployed = cli('deploy', example('hello'));
    assert.equal(deployed.status, 0, deployed.stderr);
    assert.match(deployed.stdout, /Deployed hello v1/);
    const cold = cli('invoke', 'hello', '--data', '{"name":"cli"}');
    assert.equal(cold.status, 0, cold.stderr);
    assert.match(cold.stdout, /"message": "hello, cli"/);
    assert.match(cold.stdout, /cold start/);
    for (const phase of ['queue', 'place', 'fetch', 'sandbox', 'runtime', 'init', 'exec'])
      assert.match(cold.stdout, new RegExp(`\\b${phase}\\b`));
    const warm = cli('invoke', 'hello', '--json');
    assert.equal(warm.status, 0, warm.stderr);
    const record = JSON.parse(warm.stdout);
    assert.equal(record.cold, false);
    assert.equal(record.result.message, 'hello, world');
  });

  it('lists, shows versions, logs and stats, sets aliases and removes', () => {
    assert.equal(cli('deploy', example('hello'), '--memory', '256', '--env', 'A=1').status, 0);
    const ls = cli('ls');
    // `latest` is an alias (`-q latest`) that deploys move: `ls` lists it as `versions` does.
    assert.match(ls.stdout, /hello\s+v2\s+latest→v2\s/);
    const lsJson = JSON.parse(cli('ls', '--json').stdout);
    assert.equal(lsJson[0].config.memoryMb, 256);
    assert.equal(cli('alias', 'hello', 'prod', '1').status, 0);
    const versions = cli('versions', 'hello');
    assert.match(versions.stdout, /v1\s+prod/);
    assert.match(versions.stdout, /v2\s+latest/);
    assert.match(cli('ls').stdout, /hello\s+v2\s+latest→v2,prod→v1\s/);
    const viaAlias = JSON.parse(cli('invoke', 'hello', '-q', 'prod', '--json').stdout);
    assert.equal(viaAlias.version, 1);
    const logs = cli('logs', 'hello');
    assert.match(logs.stdout, /greeting cli/);
    const stats = cli('stats', 'hello');
    assert.match(stats.stdout, /cold/);
    assert.match(stats.stdout, /init/);
    assert.equal(cli('rm', 'hello').status, 0);
    assert.match(cli('ls').stdout, /No functions yet/);
  });

  it('deploys with a schedule, lists it, refuses a bad one and removes it with --no-schedule', () => {
    const scheduled = cli(
      'deploy',
      fixture('echo'),
      '-n',
      'nightly',
      '--schedule',
      '0 3 * * *',
      '--schedule',
      '@hourly',
    );
    assert.equal(scheduled.status, 0, scheduled.stderr);
    assert.match(scheduled.stdout, /\n {2}schedule: 0 3 \* \* \* \(UTC\)\n {2}schedule: @hourly \(UTC\)\n/);
    assert.match(cli('ls').stdout, /nightly\s.*\s0 3 \* \* \*; @hourly\s/);
    const bad = cli('deploy', fixture('echo'), '-n', 'nightly', '--schedule', '0 25 * * *');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /schedule\[0\] is not a cron expression \(invalid value for hour: 25\)/);
    // The last of --no-schedule and --schedule wins, as for any flag and its negation.
    const again = cli(
      'deploy',
      fixture('echo'),
      '-n',
      'nightly',
      '--no-schedule',
      '--schedule',
      '@daily',
      '--json',
    );
    assert.equal(again.status, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout).config.schedule, ['@daily']);
    const removed = cli('deploy', fixture('echo'), '-n', 'nightly', '--no-schedule', '--json');
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal(JSON.parse(removed.stdout).config.schedule, undefined);
    assert.equal(cli('rm', 'nightly').status, 0);
  });

  it('async invoke with --wait returns the result', () => {
    assert.equal(cli('deploy', fixture('sleeper')).status, 0);
    const res = cli('invoke', 'sleeper', '--async', '--wait', '--data', '{"ms":20}', '--json');
    assert.equal(res.status, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout).result, { slept: 20, tag: null });
  });

  it('errors are one clear line and a non-zero exit', () => {
    const cases: [string[], RegExp][] = [
      [['invoke', 'missing-fn'], /no function named "missing-fn"/],
      [['invoke', 'sleeper', '--data', '{oops'], /--data is not valid JSON/],
      [['deploy', '/definitely/not/here'], /is not a directory/],
      [['deploy', fixture('sleeper'), '--memory', 'lots'], /--memory must be a whole number/],
      [
        ['deploy', fixture('sleeper'), '--concurrency', '0x10'],
        /--concurrency must be a whole number \(got "0x10"\)/,
      ],
      [['deploy', fixture('sleeper'), '--memory', ''], /--memory must be a whole number \(got ""\)/],
      [['deploy', fixture('sleeper'), '--memory', '1'], /memoryMb must be at least 64 MiB/],
      [['alias', 'sleeper', 'prod', 'x'], /VERSION must be a version number/],
      // The function-name rule, not the image repository's (which would allow "_").
      [
        ['deploy', fixture('sleeper'), '--name', 'Bad_Name'],
        /^kindling: invalid function name "Bad_Name": .*digits and '-'/,
      ],
      [['deploy', fixture('sleeper'), '--name', '-lead'], /invalid function name "-lead"/],
      [
        ['invoke', 'sleeper', '--qqq'],
        /^kindling: unknown option '--qqq' \(run `kindling --help` for usage\)/,
      ],
      [['lss'], /unknown command 'lss' \(Did you mean ls\?\)/],
    ];
    for (const [args, pattern] of cases) {
      const res = cli(...args);
      assert.notEqual(res.status, 0, args.join(' '));
      assert.match(res.stderr, pattern);
      assert.equal(res.stderr.trim().split('\n').length, 1, `one line for ${args.join(' ')}: ${res.stderr}`);
    }
    const unreachable = runCli(['ls'], { KINDLING_URL: 'http://127.0.0.1:1', KINDLING_DATA: dataDir });
    assert.equal(unreachable.status, 1);
    assert.match(unreachable.stderr, /cannot reach Kindling at http:\/\/127.0.0.1:1/);
    const noKey = runCli(['ls', '--data-dir', tempDir()], {
      KINDLING_API_KEY: '',
      KINDLING_URL: platform.url,
    });
    assert.equal(noKey.status, 1);
    assert.match(noKey.stderr, /no API key/);
  });

  it('a multi-line error message is one line on stderr, and a JSON object with --json', () => {
    assert.equal(cli('deploy', fixture('circular')).status, 0);
    const human = cli('invoke', 'circular');
    assert.equal(human.status, 1);
    assert.equal(human.stderr.trim().split('\n').length, 1, human.stderr);
    assert.match(
      human.stderr,
      /^error KINDLING_RESULT_NOT_SERIALIZABLE: .*Converting circular structure to JSON; --> starting at object .*; --- property 'self' closes the circle\)/,
    );
    assert.match(human.stdout, /warm|cold start/);
    // An async invocation waited for fails the same way: its record, and the error in one line.
    const waited = cli('invoke', 'circular', '--async', '--wait');
    assert.equal(waited.status, 1);
    assert.match(waited.stderr, /^error KINDLING_RESULT_NOT_SERIALIZABLE: [^\n]*\n$/);

    // --json: the record on stdout, the error on stderr as the API shapes it.
    for (const args of [
      ['invoke', 'circular'],
      ['invoke', 'circular', '--async', '--wait'],
    ]) {
      const res = cli(...args, '--json');
      assert.equal(res.status, 1, args.join(' '));
      assert.equal(JSON.parse(res.stdout).status, 'failed');
      const { error } = JSON.parse(res.stderr);
      assert.equal(error.code, 'KINDLING_RESULT_NOT_SERIALIZABLE');
      assert.doesNotMatch(error.message, /\n/);
    }

    // Every failure, whoever finds it, is one JSON object on stderr with --json.
    const cases: [string[], string, RegExp][] = [
      [['invoke', 'missing-fn'], 'KINDLING_FUNCTION_NOT_FOUND', /no function named "missing-fn"/],
      [['invoke', 'sleeper', '--data', '{oops'], 'KINDLING_USAGE', /--data is not valid JSON/],
      [['logs', 'sleeper', '-n', 'abc'], 'KINDLING_USAGE', /-n\/--limit/],
      [['invoke', 'sleeper', '--bogus'], 'KINDLING_USAGE', /unknown option '--bogus'/],
      [['--bogus', 'ls'], 'KINDLING_USAGE', /unknown option '--bogus'/],
    ];
    for (const [args, code, pattern] of cases) {
      const res = cli(...args, '--json');
      assert.equal(res.status, 1, args.join(' '));
      assert.equal(res.stdout, '', args.join(' '));
      const { error } = JSON.parse(res.stderr);
      assert.equal(error.code, code, args.join(' '));
      assert.match(error.message, pattern);
    }
    const unreachable = runCli(['ls', '--json'], {
      KINDLING_URL: 'http://127.0.0.1:1',
      KINDLING_DATA: dataDir,
    });
    assert.equal(unreachable.status, 1);
    assert.equal(JSON.parse(unreachable.stderr).error.code, 'KINDLING_UNREACHABLE');
  });

  it("a handler's error shows where it was thrown, in the TypeScript sources (source-mapped)", () => {
    const dir = tempDir('kindling-orders-');
    for (const [name, text] of Object.entries(SOURCE_MAPPED)) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, 'kindling.json'), JSON.stringify({ name: 'orders-ts', entry: 'handler.ts' }));
    assert.equal(cli('deploy', dir).status, 0);
    const res = cli('invoke', 'orders-ts');
    assert.equal(res.status, 1);
    assert.deepEqual(res.stderr.trim().split('\n'), [
      'error KINDLING_HANDLER_ERROR (RangeError): order has no items',
      '    at check (orders-ts/lib.ts:3:11)',
      '    at handler (orders-ts/handler.ts:4:19)',
    ]);
    // Waited for asynchronously: the same on stderr, and only there; the record's rest on stdout.
    const waited = cli('invoke', 'orders-ts', '--async', '--wait');
    assert.equal(waited.status, 1);
    assert.deepEqual(waited.stderr.trim().split('\n'), res.stderr.trim().split('\n'));
    assert.match(waited.stdout, /^invocation \S+ · orders-ts v\d+ · async · failed\n/);
    assert.doesNotMatch(waited.stdout, /KINDLING_HANDLER_ERROR|at check/);

    // `invocation` shows the record, error and frames included, on stdout; exit 0 unless asked.
    const id = waited.stdout.match(INVOCATION_ID)![0];
    const shown = cli('invocation', id);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(
      shown.stdout,
      /error KINDLING_HANDLER_ERROR \(RangeError\): order has no items\n {4}at check \(orders-ts\/lib\.ts:3:11\)/,
    );
    assert.equal(cli('invocation', id, '--exit-status').status, 1);
  });

  it('gc reports what it would free, and checks --grace', () => {
    const dry = cli('gc', '--dry-run', '--grace', '0');
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /^registry: would free .* in \d+ blobs; kept .* \(\d+ images in use\)\n/);
    assert.match(cli('gc', '--dry-run').stdout, /images in use or pushed in the last 1 h\)/);
    assert.match(
      dry.stdout,
      /\nhost local: would free .* \(\d+ materialised images, \d+ cached blocks, \d+ snapshots and bundles\)\n/,
    );
    assert.match(dry.stdout, /dry run: nothing was deleted/);
    const bad = cli('gc', '--grace', 'soon');
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr.trim(), 'kindling: invalid --grace "soon": use a duration such as 30m, 1h or 0');
  });

  it('invoke refuses flags that contradict each other and names the --data-file it cannot read', () => {
    const dir = tempDir();
    const event = join(dir, 'event.json');
    writeFileSync(event, '{"ms":1}');
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{oops');
    const cases: [string[], RegExp][] = [
      [['--data', '{"ms":2}', '--data-file', event], /--data and --data-file both give the event: pass one/],
      [['--wait'], /--wait only applies with --async/],
      [
        ['--data-file', join(dir, 'missing.json')],
        /^kindling: cannot read --data-file \S+missing\.json: no such file$/,
      ],
      [['--data-file', dir], /^kindling: cannot read --data-file \S+: it is a directory$/],
      [['--data-file', notJson], /--data-file \S+not\.json is not valid JSON/],
    ];
    for (const [args, pattern] of cases) {
      const res = cli('invoke', 'sleeper', ...args);
      assert.equal(res.status, 1, args.join(' '));
      assert.match(res.stderr.trim(), pattern);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.equal(res.stdout, '', 'refused before invoking');
    }
    const fromFile = cli('invoke', 'sleeper', '--data-file', event, '--json');
    assert.equal(fromFile.status, 0, fromFile.stderr);
    assert.equal(JSON.parse(fromFile.stdout).result.slept, 1);
  });

  it('logs checks -n and prints invocation IDs that `kindling invocation` takes', () => {
    for (const n of ['abc', '0', '-3', '1.5', '1001']) {
      const res = cli('logs', 'sleeper', '-n', n);
      assert.equal(res.status, 1, n);
      assert.equal(
        res.stderr.trim(),
        `kindling: invalid -n/--limit ${JSON.stringify(n)}: use a whole number from 1 to 1000`,
      );
    }
    assert.equal(cli('logs', 'sleeper', '-n', '1000').status, 0);

    // Invocations within about a minute share their first 8 digits (a timestamp): the whole IDs are printed.
    const printed = [1, 2].map(() => {
      const res = cli('invoke', 'sleeper', '--data', '{"ms":1}');
      assert.equal(res.status, 0, res.stderr);
      return [...res.stdout.matchAll(INVOCATION_ID)].map((m) => m[0]).at(-1)!;
    });
    const logs = cli('logs', 'sleeper', '-n', '2');
    assert.equal(logs.status, 0, logs.stderr);
    const listed = [...logs.stdout.matchAll(INVOCATION_ID)].map((m) => m[0]);
    assert.deepEqual(listed, printed);
    for (const id of listed) {
      const one = cli('invocation', id, '--exit-status');
      assert.equal(one.status, 0, one.stderr);
      assert.match(one.stdout, new RegExp(`^invocation ${id} · sleeper v\\d+ · sync · succeeded`));
    }

    const short = cli('invocation', listed[0]!.slice(0, 8));
    assert.equal(short.status, 1);
    assert.match(short.stderr, /no invocation "[0-9a-f]{8}": pass the whole invocation ID \(36 characters\)/);
  });

  it('`up` suggests a deploy when it deployed no examples, with the data directory the CLI needs', async () => {
    // The hint follows the "up" line; wait for it (a bound, not a timing assertion).
    const hint = await eventually(
      async () => /^ {2}invoke: .*$/m.exec(platform.output())?.[0],
      30_000,
      'the hint',
    );
    const output = platform.output();
    assert.doesNotMatch(output, /invoke hello|http-api/);
    assert.match(output, new RegExp(`^ {2}deploy: {2}KINDLING_DATA=${dataDir} npx kindling deploy DIR`, 'm'));
    assert.equal(hint, `  invoke:  KINDLING_DATA=${dataDir} npx kindling invoke NAME --data '{}'`);
  });
});
