import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../service/src/config/load.js';
import { PRODUCTION_ACCOUNT_SETTINGS } from '../../helpers/production-env.js';

const SECRET_64 = Buffer.alloc(64, 1).toString('base64url');
const { ALLOW_PLAINTEXT: _allowed, ...ACCOUNT } = PRODUCTION_ACCOUNT_SETTINGS;

/** A production environment whose every hop uses TLS: it starts with no plaintext warning. */
const TLS_EVERYWHERE = {
  NODE_ENV: 'production',
  JWT_SECRET: SECRET_64,
  ...ACCOUNT,
  DATABASE_URL: 'postgres://app:pw@db.internal:5432/rampart?sslmode=verify-full',
  REDIS_URL: 'rediss://:pw@redis.internal:6380',
  MODEL_PROVIDER: 'openai',
  MODEL_BASE_URL: 'https://model.internal/v1',
  MODEL_NAME: 'm',
  MAIL_URL: 'smtp://u:pw@mail.internal:587',
};

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.problems];
  }
}

const PLAINTEXT: { hop: string; env: Record<string, string>; problem: RegExp }[] = [
  {
    hop: 'database',
    env: { DATABASE_URL: 'postgres://app:hunter2@db.internal:5432/rampart' },
    problem: /^DATABASE_URL does not ask for sslmode=verify-full/,
  },
  {
    hop: 'database',
    env: { DATABASE_URL: 'postgres://app:hunter2@db.internal:5432/rampart?sslmode=require' },
    problem: /^DATABASE_URL does not ask for sslmode=verify-full/,
  },
  {
    hop: 'database',
    env: { DATABASE_URL: 'host=db.internal user=app password=hunter2 sslmode=prefer' },
    problem: /^DATABASE_URL does not ask for sslmode=verify-full/,
  },
  {
    hop: 'redis',
    env: { REDIS_URL: 'redis://:hunter2@redis.internal:6379' },
    problem: /^REDIS_URL is not a rediss:\/\/ \(TLS\) URL/,
  },
  {
    hop: 'model',
    env: { MODEL_BASE_URL: 'http://hunter2@model.internal/v1' },
    problem: /^MODEL_BASE_URL is not an https:\/\/ URL/,
  },
  {
    hop: 'model',
    env: { MODEL_FALLBACK_BASE_URL: 'http://fallback.internal/v1', MODEL_FALLBACK_NAME: 'f' },
    problem: /^MODEL_FALLBACK_BASE_URL is not an https:\/\/ URL/,
  },
  { hop: 'mail', env: { MAIL_URL: 'smtp://u:hunter2@mail.internal:25?tls=off' }, problem: /^MAIL_URL turns TLS off \(tls=off\)/ },
  { hop: 'secrets', env: { VAULT_ADDR: 'http://vault.internal:8200' }, problem: /^VAULT_ADDR is not an https:\/\/ URL/ },
  { hop: 'secrets', env: { AWS_ENDPOINT_URL: 'http://vpce.internal' }, problem: /^AWS_ENDPOINT_URL is not an https:\/\/ URL/ },
];

describe('production refuses every plaintext hop unless ALLOW_PLAINTEXT names it', () => {
  it('starts when every hop uses TLS (verify-full, rediss://, https://, STARTTLS or smtps://), warning about none', () => {
    const { warnings } = loadConfig(TLS_EVERYWHERE);
    assert.deepEqual(
      warnings.filter((w) => /ALLOW_PLAINTEXT/.test(w)),
      [],
    );
    assert.deepEqual(problemsOf({ ...TLS_EVERYWHERE, MAIL_URL: 'smtps://u:pw@mail.internal:465' }), []);
    assert.deepEqual(problemsOf({ ...TLS_EVERYWHERE, DATABASE_URL: 'host=db.internal user=app sslmode=verify-full' }), []);
  });

  for (const { hop, env, problem } of PLAINTEXT) {
    it(`${hop}: ${Object.values(env)[0]?.replace('hunter2', '…')} is refused, named without its value; ALLOW_PLAINTEXT=${hop} starts with a warning`, () => {
      const problems = problemsOf({ ...TLS_EVERYWHERE, ...env });
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.match(problems[0] as string, problem);
      assert.match(problems[0] as string, new RegExp(`ALLOW_PLAINTEXT=${hop}`));
      assert.doesNotMatch(problems.join('\n'), /hunter2/);

      // Another hop named does not allow this one.
      const other = hop === 'mail' ? 'database' : 'mail';
      assert.equal(problemsOf({ ...TLS_EVERYWHERE, ...env, ALLOW_PLAINTEXT: other }).length, 1);

      const { warnings } = loadConfig({ ...TLS_EVERYWHERE, ...env, ALLOW_PLAINTEXT: ` ${other}, ${hop} ` });
      const plaintext = warnings.filter((w) => /^ALLOW_PLAINTEXT lists/.test(w));
      assert.equal(plaintext.length, 2, warnings.join('\n'));
      assert.ok(
        plaintext.some((w) => w.startsWith(`ALLOW_PLAINTEXT lists ${hop}:`)),
        plaintext.join('\n'),
      );
      assert.doesNotMatch(warnings.join('\n'), /hunter2/);
    });
  }

  it('refuses every plaintext hop at once, one problem each', () => {
    const env = Object.assign({}, TLS_EVERYWHERE, ...PLAINTEXT.filter((_, i) => i !== 1 && i !== 2).map((p) => p.env));
    const problems = problemsOf(env);
    assert.equal(problems.length, 7, problems.join('\n'));
    assert.deepEqual(problemsOf({ ...env, ALLOW_PLAINTEXT: 'database,redis,model,mail,secrets' }), []);
  });

  it('ALLOW_PLAINTEXT accepts only the six hops', () => {
    const problems = problemsOf({ ...TLS_EVERYWHERE, ALLOW_PLAINTEXT: 'database,everything' });
    assert.equal(problems.length, 1);
    assert.match(
      problems[0] as string,
      /^ALLOW_PLAINTEXT: a comma-separated list of database, redis, model, mail, secrets, pushgateway/,
    );
  });

  it('outside production nothing is refused and nothing is warned about', () => {
    for (const NODE_ENV of ['development', 'test']) {
      const env = { ...Object.assign({}, TLS_EVERYWHERE, ...PLAINTEXT.map((p) => p.env)), NODE_ENV };
      const { warnings } = loadConfig(env);
      assert.deepEqual(
        warnings.filter((w) => /ALLOW_PLAINTEXT|TLS/.test(w)),
        [],
      );
    }
  });
});

describe('TLS_CERT_FILE / TLS_KEY_FILE', () => {
  const files: Record<string, string> = { '/tls/cert.pem': 'CERT', '/tls/key.pem': 'KEY', '/tls/empty.pem': '\n' };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    return text;
  };
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'development', ...env }, { readFile });

  it('unset: no TLS; both set: the paths and the reload interval', () => {
    assert.equal(load({}).config.tls, undefined);
    assert.deepEqual(
      load({ TLS_CERT_FILE: '/tls/cert.pem', TLS_KEY_FILE: '/tls/key.pem', TLS_RELOAD_INTERVAL_SECONDS: '5' }).config.tls,
      {
        certFile: '/tls/cert.pem',
        keyFile: '/tls/key.pem',
        reloadIntervalMs: 5000,
      },
    );
  });

  it('refuses one without the other, and files that cannot be read or are empty', () => {
    const problems = (env: Record<string, string>) => {
      try {
        load(env);
        return [];
      } catch (err) {
        return [...(err as ConfigError).problems];
      }
    };
    assert.deepEqual(problems({ TLS_CERT_FILE: '/tls/cert.pem' }), ['TLS_CERT_FILE and TLS_KEY_FILE must be set together']);
    assert.deepEqual(problems({ TLS_KEY_FILE: '/tls/key.pem' }), ['TLS_CERT_FILE and TLS_KEY_FILE must be set together']);
    assert.deepEqual(problems({ TLS_CERT_FILE: '/tls/nope.pem', TLS_KEY_FILE: '/tls/empty.pem' }), [
      'TLS_CERT_FILE: cannot read /tls/nope.pem (ENOENT)',
      'TLS_KEY_FILE: /tls/empty.pem is empty',
    ]);
  });
});

describe('DATABASE_URL listing several servers (docs/failover.md)', () => {
  it('a multi-host URL with sslmode=verify-full and target_session_attrs=read-write starts in production', () => {
    const url =
      'postgres://app:hunter2@db-a.internal:5432,db-b.internal:5432/rampart?sslmode=verify-full&target_session_attrs=read-write';
    assert.deepEqual(problemsOf({ ...TLS_EVERYWHERE, DATABASE_URL: url }), []);
  });

  it('without verify-full it is a plaintext hop like any other', () => {
    const url = 'postgres://app:hunter2@db-a.internal:5432,db-b.internal:5432/rampart?target_session_attrs=read-write';
    assert.match(
      problemsOf({ ...TLS_EVERYWHERE, DATABASE_URL: url }).join('\n'),
      /DATABASE_URL does not ask for sslmode=verify-full/,
    );
  });

  it('an unsupported target_session_attrs refuses to start, naming the parameter and never the password', () => {
    const problems = problemsOf({
      ...TLS_EVERYWHERE,
      DATABASE_URL:
        'postgres://app:hunter2@db-a.internal,db-b.internal/rampart?sslmode=verify-full&target_session_attrs=prefer-standby',
    });
    assert.deepEqual(problems, [
      'DATABASE_URL: target_session_attrs=prefer-standby is not supported: use one of any, read-write, primary',
    ]);
  });
});

describe('REDIS_CA_FILE: the internal CA a rediss:// server must chain to', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const files: Record<string, string> = { '/ca/redis.pem': PEM, '/ca/not-pem.txt': 'hello' };
  const readFile = (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    return text;
  };
  const problemsWith = (env: Record<string, string>) => {
    try {
      loadConfig({ ...TLS_EVERYWHERE, ...env }, { readFile });
      return [];
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return [...err.problems];
    }
  };

  it('is read at start and handed to the Redis client', () => {
    assert.equal(loadConfig({ ...TLS_EVERYWHERE, REDIS_CA_FILE: '/ca/redis.pem' }, { readFile }).config.redisCa, PEM);
    assert.equal(loadConfig(TLS_EVERYWHERE).config.redisCa, undefined);
  });

  it('refuses to start when it cannot be used: unreadable, not PEM, or REDIS_URL not rediss://', () => {
    assert.deepEqual(problemsWith({ REDIS_CA_FILE: '/ca/absent.pem' }), ['REDIS_CA_FILE: cannot read /ca/absent.pem (ENOENT)']);
    assert.deepEqual(problemsWith({ REDIS_CA_FILE: '/ca/not-pem.txt' }), [
      'REDIS_CA_FILE: /ca/not-pem.txt holds no PEM certificate',
    ]);
    assert.deepEqual(
      problemsWith({ REDIS_CA_FILE: '/ca/redis.pem', REDIS_URL: 'redis://redis.internal:6379', ALLOW_PLAINTEXT: 'redis' }),
      ['REDIS_CA_FILE is set but REDIS_URL is not a rediss:// URL: the CA would not be used'],
    );
  });
});
