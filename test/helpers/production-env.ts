/**
 * What production requires besides the database and the JWT secret (service/src/config/settings.ts
 * `requiredInProduction`): where mail links point, the SMTP server, the audit hash key and the TOTP secrets' keyring. The SMTP
 * server here is a closed port on this machine: a test that sends no mail needs none, and one that
 * does brings its own (test/helpers/smtp-server.ts).
 *
 * ALLOW_PLAINTEXT names every hop: production refuses a DATABASE_URL without sslmode=verify-full, a
 * redis:// REDIS_URL, an http:// model, a MAIL_URL with tls=off, an http:// VAULT_ADDR/AWS_ENDPOINT_URL
 * and (secops) an http:// --pushgateway unless the hop is listed, and the PostgreSQL, Redis, model
 * stubs, SMTP, Vault, AWS and Pushgateway servers the tests run on this machine speak no TLS. The
 * refusals themselves are tested without it (test/service/config/plaintext-hops.test.ts).
 */
export const PRODUCTION_ACCOUNT_SETTINGS = Object.freeze({
  APP_URL: 'https://app.example.test',
  MAIL_URL: 'smtp://127.0.0.1:9/?tls=off',
  AUDIT_HASH_KEY: Buffer.alloc(32, 9).toString('base64url'),
  MFA_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64url'),
  ALLOW_PLAINTEXT: 'database,redis,model,mail,secrets,pushgateway',
});
