import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigurationError } from '../../cli/src/lib/errors.js';
import { checkPushgatewayUrl } from '../../cli/src/lib/pushgateway-tls.js';
import { main } from '../../cli/src/main.js';
import { captureIo } from './capture.js';

describe('secops → Pushgateway: TLS in production (ALLOW_PLAINTEXT=pushgateway to accept plaintext)', () => {
  it('https:// passes, and anything passes outside production', () => {
    assert.equal(checkPushgatewayUrl('https://pushgateway.monitoring:9091', { NODE_ENV: 'production' }), undefined);
    assert.equal(checkPushgatewayUrl('http://pushgateway.monitoring:9091', { NODE_ENV: 'development' }), undefined);
    assert.equal(checkPushgatewayUrl(undefined, { NODE_ENV: 'production' }), undefined);
  });

  it('http:// in production is a configuration error (exit 78); named in ALLOW_PLAINTEXT it passes with a warning', () => {
    assert.throws(
      () => checkPushgatewayUrl('http://pushgateway.monitoring:9091', { NODE_ENV: 'production', ALLOW_PLAINTEXT: 'mail' }),
      (err: unknown) =>
        err instanceof ConfigurationError && err.exitCode === 78 && /--pushgateway is not an https:\/\/ URL/.test(err.message),
    );
    assert.match(
      checkPushgatewayUrl('http://pushgateway.monitoring:9091', {
        NODE_ENV: 'production',
        ALLOW_PLAINTEXT: 'mail, pushgateway',
      }) ?? '',
      /^ALLOW_PLAINTEXT lists pushgateway/,
    );
  });

  for (const argv of [
    ['pitr', 'status'],
    ['pitr', 'drill'],
    ['backup', 'drill'],
  ]) {
    it(`secops ${argv.join(' ')} --pushgateway http://… refuses before doing any work`, async () => {
      const captured = captureIo({ NODE_ENV: 'production', PATH: process.env.PATH });
      const code = await main([...argv, '--pushgateway', 'http://127.0.0.1:9/'], captured.io);
      assert.equal(code, 78, captured.stderr());
      assert.match(captured.stderr(), /--pushgateway is not an https:\/\/ URL; production requires TLS on this hop/);
    });
  }
});
