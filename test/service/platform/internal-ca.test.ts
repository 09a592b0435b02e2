import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createDatabase } from '../../../service/src/platform/db.js';
import { createLogger } from '../../../service/src/platform/logger.js';
import { createRedis } from '../../../service/src/platform/redis.js';
import { privatePostgresAvailable, startPrivatePostgres } from '../../helpers/private-postgres.js';
import { privateRedisAvailable, startPrivateRedis } from '../../helpers/private-redis.js';
import { makeTestCertificate } from '../../helpers/tls-certificate.js';
import { waitFor } from '../../helpers/wait.js';

/**
 * ASVS 12.3.4: internal hops trust only the internal CA. The servers here present a certificate the
 * test made (its own CA, as an internal CA's would be); the service connects with that CA named —
 * `sslrootcert` in DATABASE_URL, REDIS_CA_FILE for Redis — and with verification on, a server whose
 * certificate chains to another CA, or to none the service was told of, is refused.
 */

const quiet = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) });

describe('PostgreSQL over TLS with an internal CA (sslmode=verify-full&sslrootcert=…)', {
  skip: !privatePostgresAvailable() && 'needs initdb',
}, () => {
  it('connects when the URL names the CA; refuses without it and with another CA', async (t) => {
    const server = makeTestCertificate('rampart-internal-pg');
    t.after(() => server.dispose());
    const other = makeTestCertificate('some-other-ca');
    t.after(() => other.dispose());
    const cluster = await startPrivatePostgres({ tls: { certFile: server.certFile, keyFile: server.keyFile } });
    t.after(() => cluster.dispose());
    const url = (params: string) => `postgres://postgres@127.0.0.1:${cluster.port}/postgres?${params}`;
    const connect = async (params: string) => {
      const db = createDatabase({ url: url(params), poolMax: 1, acquireTimeoutMs: 5000, statementTimeoutMs: 5000, log: { warn: () => undefined, error: () => undefined } });
      try {
        const r = await db.knex.raw<{ rows: { ssl: boolean }[] }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
        return r.rows[0]?.ssl;
      } finally {
        await db.close();
      }
    };

    assert.equal(await connect(`sslmode=verify-full&sslrootcert=${encodeURIComponent(server.certFile)}`), true);
    await assert.rejects(connect('sslmode=verify-full'), /self[- ]signed|unable to verify|certificate/i);
    await assert.rejects(
      connect(`sslmode=verify-full&sslrootcert=${encodeURIComponent(other.certFile)}`),
      /self[- ]signed|unable to verify|certificate/i,
    );
  });
});

describe('Redis over TLS with an internal CA (REDIS_CA_FILE)', { skip: !privateRedisAvailable() && 'needs redis-server' }, () => {
  it('is available when the CA is the one named; a server the CA did not sign stays unavailable (limits fall back in-process)', async (t) => {
    const server = makeTestCertificate('rampart-internal-redis');
    t.after(() => server.dispose());
    const other = makeTestCertificate('some-other-ca');
    t.after(() => other.dispose());
    const redis = await startPrivateRedis({ tls: { certFile: server.certFile, keyFile: server.keyFile } });
    t.after(() => redis.dispose());
    assert.match(redis.url, /^rediss:/);

    const trusted = createRedis(redis.url, quiet(), () => undefined, { ca: readFileSync(server.certFile, 'utf8') });
    t.after(() => trusted.close());
    await waitFor('Redis over TLS with the internal CA', () => trusted.available(), 10_000);
    assert.equal(await trusted.client.ping(), 'PONG');

    for (const [label, ca] of [
      ['the system store', undefined],
      ['another CA', readFileSync(other.certFile, 'utf8')],
    ] as const) {
      const errors: string[] = [];
      const refused = createRedis(redis.url, quiet(), () => undefined, ca === undefined ? {} : { ca });
      t.after(() => refused.close());
      refused.client.on('error', (err: Error) => errors.push(err.message));
      await waitFor(`a TLS error with ${label}`, () => errors.length > 0, 10_000);
      assert.match(errors.join('\n'), /self[- ]signed|unable to verify|certificate/i, label);
      assert.equal(refused.available(), false, label);
    }
  });
});
