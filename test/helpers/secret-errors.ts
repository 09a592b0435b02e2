import assert from 'node:assert/strict';
import { SecretError } from '../../service/src/platform/secrets/types.js';

/** For `assert.rejects`: a SecretError with this code (and a message matching `message`, if given). */
export function isSecretError(code: SecretError['code'], message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof SecretError, `expected SecretError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}
