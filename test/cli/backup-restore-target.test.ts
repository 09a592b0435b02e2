import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { withClient } from '../../cli/src/lib/backup/restore.js';
import { assertTargetIsNotLive, type DatabaseIdentity, type TargetGuardDeps } from '../../cli/src/lib/backup/target-guard.js';
import type { TestDatabase } from '../helpers/database.js';
import { backupPrerequisites, emptyDatabase, secops, seededDatabase, tempDir } from './backup-fixtures.js';

const skip = await backupPrerequisites();

const LIVE = 'postgres://app@127.0.0.1:5432/rampart';

/** Deps with a fixed DNS and identities per host; `identity` fails the test when it must not be asked. */
function fakeDeps(options: {
  dns?: Record<string, string[]>;
  local?: string[];
  identities?: Record<string, DatabaseIdentity | Error>;
}): TargetGuardDeps & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookupAll: async (host) => {
      const found = options.dns?.[host];
      if (!found) throw new Error(`ENOTFOUND ${host}`);
      return found;
    },
    localAddresses: () => options.local ?? ['127.0.0.1', '::1'],
    identity: async (url) => {
      const host = new URL(url).host;
      asked.push(host);
      const identity = options.identities?.[host];
      if (!identity) throw new Error(`no identity for ${host} in this test`);
      if (identity instanceof Error) throw identity;
      return identity;
    },
  };
}

const cluster = (oid: string): DatabaseIdentity => ({ systemIdentifier: '7716127231916480651', databaseOid: oid });

describe('the restore target guard (what counts as the live database)', () => {
  it('localhost is 127.0.0.1: the same port and database name is refused without connecting', async () => {
    const deps = fakeDeps({});
    await assert.rejects(assertTargetIsNotLive(LIVE, 'postgres://restore@localhost/rampart', deps), {
      code: 'target_is_source',
      message: /the live database/,
    });
    assert.deepEqual(deps.asked, []);
  });

  it('[::1], 127.0.0.2, a unix socket directory and an address of this machine are all this machine', async () => {
    const deps = fakeDeps({ dns: { 'db.internal': ['192.0.2.2'] }, local: ['127.0.0.1', '192.0.2.2'] });
    for (const target of [
      'postgres://x@[::1]:5432/rampart',
      'postgres://x@127.0.0.2/rampart',
      'postgres://x@ignored/rampart?host=/var/run/postgresql',
      'postgres://x@db.internal:5432/rampart',
      'postgres://x@192.0.2.2/rampart',
    ]) {
      await assert.rejects(assertTargetIsNotLive(LIVE, target, deps), { code: 'target_is_source' }, target);
    }
  });

  it('another host that is the same cluster and database (a DNS alias, a proxy) is refused by its identity', async () => {
    const deps = fakeDeps({
      dns: { 'db-primary.internal': ['10.0.0.5'], 'db-alias.internal': ['10.0.0.9'] },
      identities: { 'db-primary.internal': cluster('16386'), 'db-alias.internal': cluster('16386') },
    });
    await assert.rejects(
      assertTargetIsNotLive('postgres://app@db-primary.internal/rampart', 'postgres://x@db-alias.internal/rampart', deps),
      { code: 'target_is_source', message: /system identifier 7716127231916480651\) and database \(OID 16386\)/ },
    );
  });

  it('another database of the same server is accepted', async () => {
    const deps = fakeDeps({ identities: { '127.0.0.1:5432': cluster('16386'), localhost: cluster('99999') } });
    assert.deepEqual(await assertTargetIsNotLive(LIVE, 'postgres://x@localhost/rampart_restored', deps), { warnings: [] });
  });

  it('an unreachable live database leaves the address check only, with a warning', async () => {
    const deps = fakeDeps({
      dns: { 'db-new.internal': ['10.0.0.7'] },
      identities: { '127.0.0.1:5432': new Error('connection refused'), 'db-new.internal': cluster('16390') },
    });
    const { warnings } = await assertTargetIsNotLive(LIVE, 'postgres://x@db-new.internal/rampart', deps);
    assert.match(warnings[0] ?? '', /could not read the live database's identity \(connection refused\)/);
  });

  it('with no configured database there is nothing to compare', async () => {
    assert.deepEqual(await assertTargetIsNotLive(undefined, 'postgres://x@localhost/rampart', fakeDeps({})), { warnings: [] });
  });
});

/** A TCP relay to the test server on another port: the same database under a spelling no address check can see. */
async function relayTo(url: string): Promise<{ port: number; close(): Promise<void> }> {
  const upstream = new URL(url);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const pipe = connect(Number(upstream.port || 5432), upstream.hostname);
    for (const s of [client, pipe]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(pipe).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('secops backup restore refuses the live database however its URL is spelled', { skip }, () => {
  let source: TestDatabase;
  let live: string;
  let root: string;
  let backupDir: string;

  before(async () => {
    source = await seededDatabase(20);
    live = source.url as string;
    assert.equal(new URL(live).hostname, '127.0.0.1', 'the live URL spells the host 127.0.0.1');
    root = tempDir('restore-target');
    const run = await secops(['--json', 'backup', 'create', '--dir', root], live);
    assert.equal(run.code, 0, run.stderr);
    backupDir = (JSON.parse(run.stdout) as { dir: string }).dir;
  });
  after(async () => {
    await source?.drop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const respell = (url: string, change: (u: URL) => void) => {
    const u = new URL(url);
    change(u);
    return u.toString();
  };
  const liveRows = async () => (await source.db.knex.raw('select count(*)::int as n from users')).rows[0].n as number;

  it('the live database spelled localhost (127.0.0.1 in DATABASE_URL) is refused and left as it was', async () => {
    const before = await liveRows();
    const target = respell(live, (u) => {
      u.hostname = 'localhost';
    });
    const run = await secops(['backup', 'restore', '--from', backupDir, '--to', target, '--force'], live);
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /refusing to restore into localhost:5432\/\S+: it is the configured DATABASE_URL \(the live database\)/,
    );
    assert.doesNotMatch(run.stdout, /Restoring/);
    assert.equal(await liveRows(), before);
  });

  it('the live database through another port (a relay) is refused by its identity', async (t) => {
    const relay = await relayTo(live);
    t.after(() => relay.close());
    const target = respell(live, (u) => {
      u.port = String(relay.port);
    });
    const run = await secops(['backup', 'restore', '--from', backupDir, '--to', target, '--force'], live);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /the same cluster \(system identifier \d+\) and database \(OID \d+\)/);
    assert.doesNotMatch(run.stdout, /Restoring/);
  });

  it('a scratch database on the same server, spelled localhost, is accepted and restored', async (t) => {
    const scratch = await emptyDatabase();
    t.after(() => scratch.drop());
    const target = respell(scratch.url, (u) => {
      u.hostname = 'localhost';
    });
    const run = await secops(['--json', 'backup', 'restore', '--from', backupDir, '--to', target], live);
    assert.equal(run.code, 0, run.stderr);
    const users = await withClient(scratch.url, (c) => c.query('select count(*)::int as n from users'));
    assert.equal(users.rows[0].n, 20);
  });
});
