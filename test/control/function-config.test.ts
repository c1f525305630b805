/** The words of function configuration errors: the field, the rule, the value; one problem, once. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFunctionConfig } from '../../src/control/function-config.js';

const refusal = (config: unknown) => {
  try {
    parseFunctionConfig(config);
  } catch (err) {
    return (err as Error).message;
  }
  return assert.fail(`${JSON.stringify(config)} was accepted`);
};

describe('function configuration errors', () => {
  it('name the field, the rule with its limit, and the value, without blaming fields left alone', () => {
    assert.equal(
      refusal({ maxInstances: -1 }),
      'invalid function configuration: maxInstances must be at least 1, got -1',
    );
    assert.equal(
      refusal({ minWarm: 20 }),
      'invalid function configuration: minWarm must not exceed maxInstances (10), got 20',
    );
    assert.equal(
      refusal({ env: { '1FOO': 'bar' } }),
      'invalid function configuration: env has an invalid variable name "1FOO": use letters, digits and _, not starting with a digit, got {"1FOO":"bar"}',
    );
    assert.equal(
      refusal({ env: 'A=1' }),
      'invalid function configuration: env must be a JSON object, got "A=1"',
    );
    assert.equal(refusal({ env: { A: 1 } }), 'invalid function configuration: env.A must be a string, got 1');
  });
});
