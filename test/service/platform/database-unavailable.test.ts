import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { databaseUnavailable, isDatabaseUnavailable } from '../../../service/src/platform/db.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('telling a database outage from a faulty query', () => {
  it('recognises a refused or dropped connection, an administrator or crash shutdown, and an acquire timeout', () => {
    const knexTimeout = Object.assign(new Error('Knex: Timeout acquiring a connection. The pool is probably full.'), {
      name: 'KnexTimeoutError',
    });
    for (const err of [
      withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      withCode('read ECONNRESET', 'ECONNRESET'),
      withCode('select 1 - terminating connection due to administrator command', '57P01'),
      withCode('the database system is starting up', '57P03'),
      withCode('the database system is in recovery mode', '57P03'),
      withCode('sorry, too many clients already', '53300'),
      withCode('connection failure', '08006'),
      new Error('select 1 - Connection terminated unexpectedly'),
      new Error('Connection terminated due to connection timeout'),
      knexTimeout,
      new Error('wrapped', { cause: withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED') }),
    ]) {
      assert.equal(isDatabaseUnavailable(err), true, err.message);
    }
  });

  it('leaves query faults, constraint violations and statement timeouts alone (those stay 500s or their own codes)', () => {
    for (const err of [
      withCode('duplicate key value violates unique constraint', '23505'),
      withCode('syntax error at or near "selec"', '42601'),
      withCode('canceling statement due to statement timeout', '57014'),
      new Error('something else'),
      'not an error',
      undefined,
    ]) {
      assert.equal(isDatabaseUnavailable(err), false, String(err));
    }
  });

  it('answers 503 service_unavailable with Retry-After', () => {
    const err = databaseUnavailable(new Error('x'));
    assert.equal(err.status, 503);
    assert.equal(err.code, 'service_unavailable');
    assert.equal(err.headers['Retry-After'], '1');
  });
});
