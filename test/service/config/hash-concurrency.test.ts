import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultHashConcurrency, loadConfig } from '../../../service/src/config/load.js';

describe('default password-hash concurrency', () => {
  it('leaves one CPU to the event loop, and never goes below one hash', () => {
    assert.equal(defaultHashConcurrency(1), 1);
    assert.equal(defaultHashConcurrency(2), 1);
    assert.equal(defaultHashConcurrency(4), 3);
    assert.equal(defaultHashConcurrency(16), 15);
  });

  it('is what the service runs with unless ARGON2_MAX_CONCURRENCY is set', () => {
    assert.equal(loadConfig({}).config.argon2.maxConcurrent, defaultHashConcurrency());
    assert.equal(loadConfig({ ARGON2_MAX_CONCURRENCY: '7' }).config.argon2.maxConcurrent, 7);
  });
});
