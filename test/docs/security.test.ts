/**
 * docs/security.md stays true (issue 26; ASVS 5.0 6.1.2, 7.1.1, 11.1.1–2, 13.1.1, 13.2.4–5, 14.1.1–2,
 * 16.1.1, 16.2.3): each inventory is compared with what the code, the schema and the manifests hold, so
 * a new key setting, column, audit event, outbound endpoint or egress rule fails here until the page
 * says what it is.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sourceFiles } from '../helpers/source-files.js';
import { parseAllDocuments } from 'yaml';
import { SERVICE_WORDS } from '../../service/src/components/auth/password-policy.js';
import { readSettings, SETTINGS, type SettingSpec } from '../../service/src/config/settings.js';
import { createTestDatabase } from '../helpers/database.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const DOC = readFileSync(join(ROOT, 'docs/security.md'), 'utf8');

/** The text of one `## ` section. */
function section(title: string): string {
  const start = DOC.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `docs/security.md has a "## ${title}" section`);
  const end = DOC.indexOf('\n## ', start + 1);
  return DOC.slice(start, end === -1 ? undefined : end);
}

/** The rows of the first markdown table in `text`, as arrays of cells (header and rule left out). */
function tableRows(text: string): string[][] {
  const all = text.split('\n');
  const start = all.findIndex((l) => l.startsWith('|'));
  const end = all.findIndex((l, i) => i > start && !l.startsWith('|'));
  const lines = all.slice(start, end === -1 ? undefined : end);
  return lines.slice(2).map((l) =>
    l
      .slice(1, -1)
      .split(' | ')
      .map((c) => c.trim()),
  );
}

const backticked = (text: string) => [...text.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? '');

describe('docs/security.md matches the code', () => {
  it('lists the context-specific words the password check uses', () => {
    const line = section('Passwords: context-specific words')
      .split('\n')
      .find((l) => l.startsWith('- **Service words:**'));
    assert.ok(line);
    assert.deepEqual(backticked(line), [...SERVICE_WORDS]);
  });

  it('states the session lifetimes the settings table applies by default', () => {
    const rows = tableRows(section('Sessions: lifetimes and NIST SP 800-63B'));
    const names = [
      'ACCESS_TOKEN_TTL_SECONDS',
      'REFRESH_TOKEN_TTL_SECONDS',
      'SESSION_MAX_AGE_SECONDS',
      'REAUTH_MAX_AGE_SECONDS',
      'MAX_SESSIONS_PER_USER',
    ] as const;
    const read = readSettings({}, names);
    assert.ok('values' in read);
    assert.deepEqual(
      Object.fromEntries(rows.map(([name = '', value]) => [name.replaceAll('`', ''), Number(value)])),
      Object.fromEntries(names.map((n) => [n, read.values[n]])),
    );
  });

  it('the cryptographic inventory names every key and secret setting, and every algorithm the code names', () => {
    const inventory = section('Cryptographic inventory');
    const listed = new Set(tableRows(inventory).flatMap(([first = '']) => backticked(first)));
    const keySettings = Object.entries(SETTINGS as Record<string, SettingSpec>)
      .filter(([name, spec]) => spec.secret || /_KEY_(?:FILE|REF)$/.test(name))
      .map(([name]) => name);
    assert.ok(keySettings.length >= 12);
    for (const name of keySettings) assert.ok(listed.has(name), `${name} is in the inventory`);
    for (const name of listed) assert.ok(name in SETTINGS, `${name} is a setting`);

    const algorithms =
      /['"`](sha1|sha224|sha256|sha384|sha512|md5|aes-\d{3}-[a-z]+|chacha20[\w-]*|ed25519|ed448|x25519|rs256|ps256|es256|hs256|hs384|hs512|eddsa|argon2id|argon2i|argon2d|scram-sha-256)['"`]/gi;
    const named = new Set<string>();
    for (const path of [...sourceFiles(join(ROOT, 'service/src')), ...sourceFiles(join(ROOT, 'cli/src'))]) {
      for (const m of readFileSync(path, 'utf8').matchAll(algorithms)) named.add((m[1] ?? '').toLowerCase());
    }
    assert.ok(named.has('sha256') && named.has('aes-256-gcm') && named.has('argon2id'), [...named].join(', '));
    const documented = inventory.toLowerCase();
    for (const algorithm of named) assert.ok(documented.includes(algorithm), `${algorithm} is in the inventory`);
  });

  it('classifies every column of the schema once, and no column that does not exist', async (t) => {
    const database = await createTestDatabase();
    t.after(() => database.drop());
    const columns: { table_name: string; column_name: string }[] = (
      await database.db.knex.raw(`select table_name, column_name from information_schema.columns where table_schema = 'public'`)
    ).rows;
    const actual = new Set(columns.map((c) => `${c.table_name}.${c.column_name}`));
    assert.ok(actual.has('users.password_hash'));

    const rows = tableRows(section('Data: classification and protection'));
    const classified = new Map<string, string>();
    for (const [table = '', ...levels] of rows) {
      const name = backticked(table)[0];
      levels.forEach((cell, i) => {
        for (const column of backticked(cell)) {
          const key = `${name}.${column}`;
          assert.ok(!classified.has(key), `${key} is classified once`);
          classified.set(key, ['secret', 'personal', 'internal'][i] ?? '?');
        }
      });
    }
    assert.deepEqual(
      [...classified.keys()].filter((k) => !actual.has(k)),
      [],
      'no classified column is missing from the schema',
    );
    assert.deepEqual([...actual].filter((k) => !classified.has(k)).sort(), [], 'every column of the schema is classified');
    for (const secret of [
      'users.password_hash',
      'refresh_tokens.token_hash',
      'mfa_totp.secret_ciphertext',
      'mail_outbox.html_body',
    ]) {
      assert.equal(classified.get(secret), 'secret', secret);
    }
  });

  it('the logging inventory names every audit event type, and the service writes logs to stdout only', () => {
    const source = readFileSync(join(ROOT, 'service/src/components/audit/audit-log.ts'), 'utf8');
    const union = source.slice(
      source.indexOf('export type AuditEventType ='),
      source.indexOf(';', source.indexOf('export type AuditEventType =')),
    );
    const types = [...union.matchAll(/\|\s*'([a-z_]+)'/g)].map((m) => m[1]);
    assert.ok(types.length > 40);
    const inventory = section('Logging inventory');
    const line = inventory.slice(inventory.indexOf('**Audit event types:**'));
    assert.deepEqual(backticked(line).sort(), [...types].sort());

    // One logger, one destination: pino is imported by platform/logger.ts alone, whose sink is fd 1.
    const importers = sourceFiles(join(ROOT, 'service/src')).filter((path) =>
      /from ['"]pino(?:-[a-z]+)?['"]/.test(readFileSync(path, 'utf8')),
    );
    assert.deepEqual(
      importers.map((p) => p.slice(ROOT.length)),
      ['service/src/platform/logger.ts'],
    );
    const logger = readFileSync(join(ROOT, 'service/src/platform/logger.ts'), 'utf8');
    const destinations = [...logger.matchAll(/pino\.destination\(([^)]*)\)/g)].map((m) => m[1]);
    assert.deepEqual(destinations, ['{ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES }']);
    assert.doesNotMatch(logger, /createWriteStream|appendFile|openSync|pino\.transport\(/);
  });

  it('lists every outbound endpoint setting and egress port, and every egress rule names its destinations', () => {
    const connections = section('Connections');
    const outbound = Object.keys(SETTINGS).filter((name) => /(?:_URL|_ADDR|_ENDPOINT)$/.test(name) && name !== 'APP_URL');
    assert.ok(outbound.includes('DATABASE_URL') && outbound.includes('MODEL_BASE_URL'));
    for (const name of outbound) assert.ok(connections.includes(`\`${name}\``), `${name} is in Connections`);

    const policies = parseAllDocuments(readFileSync(join(ROOT, 'k8s/base/networkpolicies.yaml'), 'utf8')).map((d) => d.toJS());
    const ports = tableRows(connections)
      .map((row) => row[2])
      .join(' ');
    const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '100.64.0.0/10'];
    let rules = 0;
    for (const policy of policies) {
      for (const rule of policy.spec.egress ?? []) {
        rules += 1;
        for (const p of rule.ports ?? [])
          assert.match(
            ports,
            new RegExp(`\\b${p.port}\\b`),
            `egress port ${p.protocol}/${p.port} of ${policy.metadata.name} is in Connections`,
          );
        assert.ok(rule.to?.length, `${policy.metadata.name}: an egress rule names its destinations`);
        for (const to of rule.to) {
          if (!to.ipBlock) {
            // A namespace (and pods in it), or pods of this namespace (podSelector alone).
            assert.ok(
              to.namespaceSelector || to.podSelector,
              `${policy.metadata.name}: a destination is a namespace, pods, or an address block`,
            );
            continue;
          }
          const { cidr, except = [] } = to.ipBlock;
          if (cidr === '0.0.0.0/0') {
            for (const range of PRIVATE)
              assert.ok(except.includes(range), `${policy.metadata.name}: the public rule excepts ${range}`);
          } else {
            assert.ok(
              /^10\.|^172\.(1[6-9]|2\d|3[01])\.|^192\.168\./.test(cidr),
              `${policy.metadata.name}: ${cidr} is a private range`,
            );
          }
        }
      }
    }
    assert.ok(rules >= 8);
  });
});
