/** How the CLI words failures: one line, or one JSON object with --json. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError } from 'commander';
import { KindlingError } from '../../src/core/errors.js';
import { CliError } from '../../src/cli/cli-error.js';
import { errorReport, formatErrorReport } from '../../src/cli/error-report.js';
import { oneLine } from '../../src/cli/format.js';

describe('oneLine', () => {
  it("joins a message's lines with '; ', trimmed, without empty ones", () => {
    const cycle =
      "cannot be serialised (Converting circular structure to JSON\n    --> starting at object with constructor 'Object'\n    --- property 'self' closes the circle)";
    assert.equal(
      oneLine(cycle),
      "cannot be serialised (Converting circular structure to JSON; --> starting at object with constructor 'Object'; --- property 'self' closes the circle)",
    );
    assert.equal(oneLine('  a\r\n\r\n b \rc\n'), 'a; b; c');
    assert.equal(oneLine('one line'), 'one line');
    assert.equal(
      oneLine('build failed with 1 error:\nindex.js:1:47: Expected "}"\nFix it and deploy again.'),
      'build failed with 1 error: index.js:1:47: Expected "}"; Fix it and deploy again.',
    );
    assert.equal(oneLine('\n \n'), '');
  });

  it('joins a parenthesised line with a space', () => {
    assert.equal(
      oneLine("unknown command 'lss'\n(Did you mean ls?)"),
      "unknown command 'lss' (Did you mean ls?)",
    );
  });
});

describe('errorReport', () => {
  it("keeps a server's or the CLI's code, and gives the rest a code too", () => {
    assert.deepEqual(errorReport(new CliError('bad flag')), { code: 'KINDLING_USAGE', message: 'bad flag' });
    assert.deepEqual(errorReport(new CliError('gone', 'KINDLING_FUNCTION_NOT_FOUND')), {
      code: 'KINDLING_FUNCTION_NOT_FOUND',
      message: 'gone',
    });
    assert.deepEqual(errorReport(new KindlingError('KINDLING_TIMEOUT', 'took\ntoo long')), {
      code: 'KINDLING_TIMEOUT',
      message: 'took; too long',
    });
    assert.deepEqual(errorReport(new Error('boom\nat line 2')), {
      code: 'KINDLING_INTERNAL',
      message: 'boom; at line 2',
    });
    assert.deepEqual(errorReport('a string'), { code: 'KINDLING_INTERNAL', message: 'a string' });
  });

  it("turns commander's usage errors into one line with where to find the usage", () => {
    const err = new CommanderError(1, 'commander.unknownOption', "error: unknown option '--nope'");
    assert.deepEqual(errorReport(err), {
      code: 'KINDLING_USAGE',
      message: "unknown option '--nope' (run `kindling --help` for usage)",
    });
  });

  it('formats one line for people and one JSON object for scripts', () => {
    const report = { code: 'KINDLING_USAGE', message: 'invalid -n "x"' };
    assert.equal(formatErrorReport(report, false), 'kindling: invalid -n "x"');
    const json = formatErrorReport(report, true);
    assert.doesNotMatch(json, /\n/);
    assert.deepEqual(JSON.parse(json), { error: report });
  });
});
