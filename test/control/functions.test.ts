import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KindlingError, type ErrorCode } from '../../src/core/errors.js';
import { openDatabase } from '../../src/control/db.js';
import { FunctionStore } from '../../src/control/functions.js';
import { TenantStore } from '../../src/control/tenants.js';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const code = (c: ErrorCode) => (err: unknown) => KindlingError.is(err) && err.code === c;

function stores(file = ':memory:') {
  const db = openDatabase(file);
  const tenants = new TenantStore(db);
  tenants.createTenant('acme');
  tenants.createTenant('other');
  return { db, tenants, functions: new FunctionStore(db) };
}

const deploy = (f: FunctionStore, name: string, d = 'a', config: unknown = {}, tenant = 'acme') =>
  f.createVersion({
    tenant,
    name,
    imageRepo: `${tenant}/${name}`,
    imageDigest: digest(d),
    entry: 'index.mjs',
    config,
  });

describe('FunctionStore', () => {
  it('makes a new immutable version on every deploy and moves latest', () => {
    const { functions } = stores();
    const v1 = deploy(functions, 'hello', 'a', { memoryMb: 256 });
    const v2 = deploy(functions, 'hello', 'b');
    assert.equal(v1.version, 1);
    assert.equal(v2.version, 2);
    assert.equal(functions.resolve('acme', 'hello').version, 2);
    assert.equal(
      functions.getVersion('acme', 'hello', 1).config.memoryMb,
      256,
      'old versions keep their config',
    );
    assert.equal(functions.getVersion('acme', 'hello', 2).config.memoryMb, 128, 'defaults fill the rest');
    assert.deepEqual(
      functions.versions('acme', 'hello').map((v) => v.version),
      [2, 1],
    );
  });

  it('resolves aliases and version numbers, and refuses to move latest by hand', () => {
    const { functions } = stores();
    deploy(functions, 'hello', 'a');
    deploy(functions, 'hello', 'b');
    functions.setAlias('acme', 'hello', 'prod', 1);
    assert.equal(functions.resolve('acme', 'hello', 'prod').imageDigest, digest('a'));
    assert.equal(functions.resolve('acme', 'hello', '2').imageDigest, digest('b'));
    deploy(functions, 'hello', 'c');
    assert.equal(
      functions.resolve('acme', 'hello', 'prod').version,
      1,
      'other aliases stay where they were set',
    );
    assert.equal(
      functions.resolve('acme', 'hello').version,
      3,
      'the resolve cache is invalidated by a deploy',
    );
    assert.throws(() => functions.setAlias('acme', 'hello', 'latest', 1), code('KINDLING_BAD_REQUEST'));
    assert.throws(() => functions.setAlias('acme', 'hello', 'prod', 9), code('KINDLING_VERSION_NOT_FOUND'));
    assert.throws(() => functions.resolve('acme', 'hello', 'staging'), code('KINDLING_ALIAS_NOT_FOUND'));
    functions.deleteAlias('acme', 'hello', 'prod');
    assert.throws(() => functions.resolve('acme', 'hello', 'prod'), code('KINDLING_ALIAS_NOT_FOUND'));
  });

  it('keeps tenants apart: the same name in two tenants is two functions', () => {
    const { functions } = stores();
    deploy(functions, 'hello', 'a', {}, 'acme');
    assert.throws(() => functions.resolve('other', 'hello'), code('KINDLING_FUNCTION_NOT_FOUND'));
    deploy(functions, 'hello', 'b', {}, 'other');
    assert.equal(functions.resolve('other', 'hello').imageDigest, digest('b'));
    assert.equal(functions.resolve('acme', 'hello').imageDigest, digest('a'));
    assert.deepEqual(
      functions.list('acme').map((f) => f.name),
      ['hello'],
    );
    assert.equal(functions.list(undefined).length, 2);
  });

  it('takes any run of hyphens inside a name, as image repositories do', () => {
    const { functions } = stores();
    assert.equal(deploy(functions, 'a--b').name, 'a--b');
  });

  it('rejects invalid names and configurations with messages that say what to fix', () => {
    const { functions } = stores();
    assert.throws(
      () => deploy(functions, 'Hello_World'),
      (err: unknown) =>
        KindlingError.is(err) && err.code === 'KINDLING_INVALID_NAME' && /lowercase/.test(err.message),
    );
    assert.throws(() => deploy(functions, 'trailing-'), /starting with a letter and not ending with '-'/);
    assert.throws(
      () => deploy(functions, 'ok', 'a', { memoryMb: 16 }),
      (err: unknown) =>
        KindlingError.is(err) &&
        err.code === 'KINDLING_INVALID_CONFIG' &&
        /memoryMb must be at least 64 MiB.*got 16/.test(err.message),
    );
    assert.throws(() => deploy(functions, 'ok', 'a', { timeoutMs: 'fast' }), code('KINDLING_INVALID_CONFIG'));
    assert.throws(() => deploy(functions, 'ok', 'a', { unknownKey: 1 }), code('KINDLING_INVALID_CONFIG'));
    assert.throws(
      () => deploy(functions, 'ok', 'a', { env: { 'BAD-KEY': 'x' } }),
      code('KINDLING_INVALID_CONFIG'),
    );
    assert.throws(
      () => deploy(functions, 'ok', 'a', { minWarm: 5, maxInstances: 2 }),
      code('KINDLING_INVALID_CONFIG'),
    );
    assert.equal(functions.list('acme').length, 0, 'nothing is created by a refused deploy');
  });

  it('deletes a function with its versions and aliases', () => {
    const { functions } = stores();
    deploy(functions, 'hello');
    functions.setAlias('acme', 'hello', 'prod', 1);
    functions.delete('acme', 'hello');
    assert.throws(() => functions.get('acme', 'hello'), code('KINDLING_FUNCTION_NOT_FOUND'));
    assert.throws(() => functions.delete('acme', 'hello'), code('KINDLING_FUNCTION_NOT_FOUND'));
    assert.equal(deploy(functions, 'hello').version, 1, 'a re-created function starts again at version 1');
  });

  it('survives a restart: everything is in the SQLite file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'kindling-db-')), 'k.db');
    const first = stores(file);
    deploy(first.functions, 'hello', 'a', { env: { GREETING: 'hi' } });
    first.functions.setAlias('acme', 'hello', 'prod', 1);
    first.db.close();
    const db = openDatabase(file);
    const functions = new FunctionStore(db);
    assert.equal(functions.resolve('acme', 'hello', 'prod').config.env.GREETING, 'hi');
    db.close();
  });
});

describe('TenantStore', () => {
  it('authenticates keys it issued, stores only hashes, and rejects others', () => {
    const { db, tenants } = stores();
    const { apiKey } = tenants.createTenant('third');
    assert.deepEqual(tenants.authenticate(apiKey), { tenant: 'third', role: 'tenant' });
    assert.equal(tenants.authenticate('kdl_not-a-key'), undefined);
    const row = db.prepare('SELECT hash FROM api_keys WHERE tenant_id = ?').get('third') as { hash: string };
    assert.notEqual(row.hash, apiKey);
    assert.throws(() => tenants.createTenant('third'), code('KINDLING_CONFLICT'));
    assert.throws(() => tenants.createTenant('Bad Name'), code('KINDLING_INVALID_NAME'));
  });
});
