import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../service/src/config/load.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../../helpers/production-env.js';

const SECRET_64 = Buffer.alloc(64, 1).toString('base64url');
const PROD_OK = { NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db.internal:5432/rampart', JWT_SECRET: SECRET_64, ...PRODUCTION_ACCOUNT_SETTINGS };

function problemsOf(env: Record<string, string>, readFile?: (p: string) => string): string[] {
  try {
    loadConfig(env, readFile ? { readFile } : {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return [...err.problems];
  }
  return [];
}

describe('loadConfig: production refuses to start without safe settings', () => {
  it('starts with a database URL, a 64-byte secret and default Argon2 costs', () => {
    const { config, warnings } = loadConfig(PROD_OK);
    assert.equal(config.env, 'production');
    assert.equal(config.jwt.ephemeral, false);
    assert.equal(config.database.migrateOnStart, false);
    // PRODUCTION_ACCOUNT_SETTINGS allows every hop in plaintext (this machine's servers have no TLS): said at start.
    assert.deepEqual(warnings.map((w) => w.split(':')[0]), ['database', 'redis', 'model', 'mail', 'secrets'].map((hop) => `ALLOW_PLAINTEXT lists ${hop}`));
    // With TLS on every hop and no ALLOW_PLAINTEXT there is nothing to warn about.
    const { ALLOW_PLAINTEXT: _, ...tls } = { ...PROD_OK, DATABASE_URL: `${PROD_OK.DATABASE_URL}?sslmode=verify-full`, MAIL_URL: 'smtp://mail.internal:587' };
    assert.deepEqual(loadConfig(tls).warnings, []);
  });

  it('refuses a missing DATABASE_URL', () => {
    const { DATABASE_URL: _, ...env } = PROD_OK;
    assert.deepEqual(problemsOf(env), ['DATABASE_URL is required in production']);
  });

  it('refuses a missing JWT secret', () => {
    const { JWT_SECRET: _, ...env } = PROD_OK;
    assert.deepEqual(problemsOf(env), ['JWT_SECRET (or JWT_SECRET_FILE, or JWT_KEYS) is required in production']);
  });

  it('refuses a JWT secret under 64 bytes', () => {
    const problems = problemsOf({ ...PROD_OK, JWT_SECRET: Buffer.alloc(63, 1).toString('base64url') });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /JWT_SECRET is too short: 63 bytes/);
  });

  it('refuses a JWT secret that is not base64url', () => {
    assert.deepEqual(problemsOf({ ...PROD_OK, JWT_SECRET: `${'a'.repeat(90)}!*` }), ['JWT_SECRET must be base64url']);
  });

  it('refuses Argon2 memory below the OWASP minimum', () => {
    const problems = problemsOf({ ...PROD_OK, ARGON2_MEMORY_KIB: '19455' });
    assert.deepEqual(problems, ['ARGON2_MEMORY_KIB=19455 is below the OWASP minimum 19456']);
  });

  it('refuses an Argon2 time cost below the OWASP minimum', () => {
    assert.deepEqual(problemsOf({ ...PROD_OK, ARGON2_TIME_COST: '1' }), ['ARGON2_TIME_COST=1 is below the OWASP minimum 2']);
  });

  it('lists every problem at once, one line each', () => {
    const problems = problemsOf({ NODE_ENV: 'production', ARGON2_TIME_COST: '1' });
    // DATABASE_URL, APP_URL, MAIL_URL, AUDIT_HASH_KEY, MFA_ENCRYPTION_KEY, the JWT secret and the time cost.
    assert.equal(problems.length, 7, problems.join('\n'));
  });

  it('never echoes a rejected value, which may be a secret', () => {
    const secretish = 'hunter2-super-secret-value';
    const problems = problemsOf({ ...PROD_OK, PORT: secretish, JWT_SECRET: `${secretish}!` });
    assert.ok(problems.length >= 1);
    for (const p of problems) assert.ok(!p.includes(secretish), p);
  });

  it('reads secrets from *_FILE variables and drops the trailing newline', () => {
    const files: Record<string, string> = { '/run/secrets/jwt': `${SECRET_64}\n`, '/run/secrets/db': 'postgres://u:p@h/d\n' };
    const { config } = loadConfig(
      { NODE_ENV: 'production', JWT_SECRET_FILE: '/run/secrets/jwt', DATABASE_URL_FILE: '/run/secrets/db', ...PRODUCTION_ACCOUNT_SETTINGS },
      { readFile: (p) => files[p] ?? assert.fail(`unexpected read of ${p}`) },
    );
    assert.equal(Buffer.from(config.jwt.secret!.reveal()).toString('base64url'), SECRET_64);
    assert.equal(config.database.url?.reveal(), 'postgres://u:p@h/d');
  });

  it('refuses a secret set both directly and through a file', () => {
    const problems = problemsOf({ ...PROD_OK, JWT_SECRET_FILE: '/run/secrets/jwt' }, () => SECRET_64);
    assert.deepEqual(problems, ['JWT_SECRET and JWT_SECRET_FILE are both set; set only one']);
  });

  it('refuses an unreadable secret file with the path but not the content', () => {
    const problems = problemsOf({ ...PROD_OK, JWT_SECRET: '', JWT_SECRET_FILE: '/nope' }, () => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    });
    assert.deepEqual(problems, ['JWT_SECRET_FILE: cannot read /nope (ENOENT)']);
  });

  it('refuses out-of-range and malformed numbers', () => {
    assert.match(problemsOf({ ...PROD_OK, PORT: '70000' })[0] ?? '', /^PORT: /);
    assert.match(problemsOf({ ...PROD_OK, MAX_REQUEST_SIZE_BYTES: 'lots' })[0] ?? '', /^MAX_REQUEST_SIZE_BYTES: /);
  });

  it('refuses a TRUSTED_PROXIES entry that is not an address', () => {
    assert.match(problemsOf({ ...PROD_OK, TRUSTED_PROXIES: '10.0.0.0/8, example.com' })[0] ?? '', /example\.com/);
  });
});

describe('loadConfig: development', () => {
  it('generates an ephemeral JWT secret and says so loudly', () => {
    const { config, warnings } = loadConfig({});
    assert.equal(config.env, 'development');
    assert.equal(config.jwt.ephemeral, true);
    assert.equal(config.jwt.secret?.reveal().length, 64);
    assert.ok(warnings.some((w) => /EPHEMERAL/.test(w)));
    assert.equal(config.database.url, undefined);
    assert.equal(config.database.migrateOnStart, true);
  });

  it('applies the documented defaults', () => {
    const { config } = loadConfig({});
    assert.equal(config.http.port, 3000);
    assert.equal(config.http.host, '0.0.0.0');
    assert.equal(config.metrics.port, 9464);
    assert.equal(config.jwt.accessTokenTtlSeconds, 900);
    assert.equal(config.jwt.refreshTokenTtlSeconds, 2_592_000);
    assert.deepEqual({ ...config.argon2, maxConcurrent: 0 }, { memoryKiB: 19456, timeCost: 2, parallelism: 1, maxConcurrent: 0, maxQueue: 64, threadNice: 10 });
    assert.equal(config.http.maxRequestSizeBytes, 262_144);
    assert.deepEqual(config.http.trustedProxies, []);
    assert.equal(config.limits.loginMaxFailures, 5);
    assert.equal(config.jwt.refreshReuseGraceSeconds, 10);
    assert.equal(config.passwordMinLength, 12);
    assert.equal(config.limits.maxStreamsPerUser, 3);
    assert.equal(config.model.provider, 'builtin');
    assert.equal(config.model.timeoutMs, 60_000);
    assert.equal(config.shutdown.graceMs, 25_000);
  });

  it('is frozen', () => {
    const { config } = loadConfig({});
    assert.throws(() => {
      (config.http as { port: number }).port = 1;
    }, TypeError);
  });

  it('never shows secrets when printed or serialised', () => {
    const { config } = loadConfig({ ...PROD_OK, REDIS_URL: 'redis://:pw-in-url@r:6379' });
    const printed = `${JSON.stringify(config)}\n${inspect(config, { depth: 10 })}\n${String(config.jwt.secret)}`;
    assert.ok(!printed.includes(SECRET_64));
    assert.ok(!printed.includes('pw-in-url'));
    assert.ok(!printed.includes('app@db.internal'));
  });

  it('binds the metrics listener to loopback unless METRICS_HOST names another address (Kubernetes: the pod IP)', () => {
    assert.equal(loadConfig({}).config.metrics.host, '127.0.0.1');
    assert.equal(loadConfig({ HOST: '0.0.0.0' }).config.metrics.host, '127.0.0.1', 'the API address does not open /metrics');
    assert.equal(loadConfig({ METRICS_HOST: '10.0.3.7' }).config.metrics.host, '10.0.3.7');
  });

  it('requires the model endpoint and name for the openai provider', () => {
    assert.deepEqual(problemsOf({ MODEL_PROVIDER: 'openai' }), [
      'MODEL_BASE_URL is required when MODEL_PROVIDER=openai',
      'MODEL_NAME is required when MODEL_PROVIDER=openai',
    ]);
  });

  it('a fallback endpoint needs its model name, and a name or key without an endpoint is refused (not silently unused)', () => {
    assert.deepEqual(problemsOf({ MODEL_FALLBACK_BASE_URL: 'https://fallback.example' }), [
      'MODEL_FALLBACK_NAME is required when MODEL_FALLBACK_BASE_URL is set',
    ]);
    assert.deepEqual(problemsOf({ MODEL_FALLBACK_NAME: 'm' }), [
      'MODEL_FALLBACK_NAME / MODEL_FALLBACK_API_KEY are set but MODEL_FALLBACK_BASE_URL is not: no fallback would be used',
    ]);
    const { config } = loadConfig({ MODEL_TIMEOUT_MS: '5000', MODEL_FALLBACK_BASE_URL: 'https://fallback.example', MODEL_FALLBACK_NAME: 'm', MODEL_FALLBACK_API_KEY: 'sk-fallback' });
    assert.equal(config.model.fallback?.timeoutMs, 5000, 'MODEL_TIMEOUT_MS unless MODEL_FALLBACK_TIMEOUT_MS');
    assert.equal(config.model.fallback?.apiKey?.reveal(), 'sk-fallback');
    assert.ok(!JSON.stringify(config).includes('sk-fallback'));
  });
});

describe('loadConfig: multi-factor authentication (issue 20)', () => {
  it('production requires the TOTP secrets\' keyring; a bad one refuses the start without echoing it', () => {
    const { MFA_ENCRYPTION_KEY: _m, ...rest } = PROD_OK;
    assert.deepEqual(problemsOf(rest), ['MFA_ENCRYPTION_KEY is required in production']);
    const short = Buffer.alloc(16, 3).toString('base64url');
    const problems = problemsOf({ ...PROD_OK, MFA_ENCRYPTION_KEY: short });
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? '', /must decode to 32 bytes \(got 16/);
    assert.ok(!problems[0]?.includes(short));
    assert.match(problemsOf({ ...PROD_OK, MFA_ENCRYPTION_KEY: '{"primary":"b","keys":{"a":"' + Buffer.alloc(32).toString('base64url') + '"}}' })[0] ?? '', /"primary" must name one of "keys"/);
  });

  it('development derives a fixed key and says so; WebAuthn origins default to APP_URL\'s origin', () => {
    const { config, warnings } = loadConfig({ APP_URL: 'https://app.example.test/some/path' });
    assert.ok(warnings.some((w) => /MFA_ENCRYPTION_KEY is not set: .*FIXED development key/.test(w)), warnings.join('\n'));
    assert.deepEqual(config.mfa.webauthn, { rpId: 'localhost', rpName: 'Rampart', origins: ['https://app.example.test'] });
    assert.deepEqual(loadConfig({ WEBAUTHN_ORIGINS: 'https://a.test, android:apk-key-hash:abc' }).config.mfa.webauthn.origins, ['https://a.test', 'android:apk-key-hash:abc']);
  });
});

describe('loadConfig: accounts and mail (issue 18)', () => {
  it('production requires where mail links point, an SMTP server and the audit hash key', () => {
    const { APP_URL: _a, MAIL_URL: _m, AUDIT_HASH_KEY: _k, ...rest } = PROD_OK;
    assert.deepEqual(problemsOf(rest), [
      'APP_URL is required in production',
      'MAIL_URL is required in production',
      'AUDIT_HASH_KEY is required in production',
    ]);
  });

  it('production verifies email addresses by default; elsewhere verification is off unless asked for', () => {
    assert.equal(loadConfig(PROD_OK).config.accounts.emailVerification, 'required');
    assert.equal(loadConfig({}).config.accounts.emailVerification, 'off');
    assert.equal(loadConfig({ EMAIL_VERIFICATION: 'required' }).config.accounts.emailVerification, 'required');
    assert.equal(loadConfig({ ...PROD_OK, EMAIL_VERIFICATION: 'off' }).config.accounts.emailVerification, 'off');
  });

  it('refuses an audit hash key under 32 bytes or not base64url', () => {
    assert.match(problemsOf({ ...PROD_OK, AUDIT_HASH_KEY: Buffer.alloc(31, 1).toString('base64url') })[0] ?? '', /AUDIT_HASH_KEY is too short: 31 bytes/);
    assert.deepEqual(problemsOf({ ...PROD_OK, AUDIT_HASH_KEY: 'not base64url!' }), ['AUDIT_HASH_KEY must be base64url']);
  });

  it('refuses a MAIL_URL that is not SMTP, or asks TLS to be anything but off — without echoing it', () => {
    const secret = 'smtp-password-do-not-print';
    for (const url of [`http://u:${secret}@mail.example.com`, `smtp://u:${secret}@mail.example.com?tls=maybe`, `smtps://u:${secret}@mail.example.com?tls=off`]) {
      const problems = problemsOf({ ...PROD_OK, MAIL_URL: url });
      assert.equal(problems.length, 1, url);
      assert.ok(!problems[0]?.includes(secret), problems[0]);
    }
    assert.deepEqual(problemsOf({ ...PROD_OK, MAIL_URL: 'smtp://relay.internal:25?tls=off' }), []);
  });

  it('development says loudly that mail goes to the log and that the audit hash key is ephemeral', () => {
    const { config, warnings } = loadConfig({ DATA_DIR: '/tmp/rampart-dev' });
    assert.equal(config.mail.url, undefined);
    assert.equal(config.mail.devDir, '/tmp/rampart-dev/mail');
    assert.equal(config.accounts.appUrl, 'http://localhost:5173');
    assert.equal(config.audit.hashKeyEphemeral, true);
    assert.ok(warnings.some((w) => /MAIL_URL is not set: mails are written to the log and to \/tmp\/rampart-dev\/mail\//.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w) => /AUDIT_HASH_KEY is not set/.test(w)), warnings.join('\n'));
  });

  it('drops a trailing slash from APP_URL so links have one', () => {
    assert.equal(loadConfig({ APP_URL: 'https://app.example.com/' }).config.accounts.appUrl, 'https://app.example.com');
  });
});
