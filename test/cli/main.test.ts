import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommanderError } from 'commander';
import type { DatabaseOpener, GlobalOptions } from '../../cli/src/lib/context.js';
import { CheckFailedError, exitCodeFor } from '../../cli/src/lib/errors.js';
import { buildProgram, main } from '../../cli/src/main.js';
import { captureIo } from './capture.js';

/** Parses through commander's exitOverride without running main's catch. */
async function parseError(argv: string[]): Promise<CommanderError> {
  const { io } = captureIo();
  try {
    await (await buildProgram(io)).parseAsync(argv, { from: 'user' });
  } catch (err) {
    assert.ok(err instanceof CommanderError, `expected a CommanderError, got ${String(err)}`);
    return err;
  }
  assert.fail('parsing should have thrown');
}

describe('secops argument parsing', () => {
  it('an unknown command is a usage error (exit 2)', async () => {
    const err = await parseError(['frobnicate']);
    assert.equal(err.code, 'commander.unknownCommand');
    assert.equal(exitCodeFor(err), 2);

    const { io, stderr } = captureIo();
    assert.equal(await main(['frobnicate'], io), 2);
    assert.match(stderr(), /unknown command 'frobnicate'/);
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const err = await parseError(['migrate', 'status', '--frobnicate']);
    assert.equal(err.code, 'commander.unknownOption');
    assert.equal(exitCodeFor(err), 2);
    assert.equal(await main(['migrate', 'status', '--frobnicate'], captureIo().io), 2);
  });

  it('a command group without its subcommand is a usage error (exit 2)', async () => {
    assert.equal(await main(['migrate'], captureIo().io), 2);
    assert.equal(await main([], captureIo().io), 2);
  });

  it('--help lists migrate and the exit codes on stdout, and exits 0', async () => {
    const { io, stdout } = captureIo();
    assert.equal(await main(['--help'], io), 0);
    assert.match(stdout(), /^\s+migrate\b/m);
    assert.match(stdout(), /Exit codes:[\s\S]*\b78\b/);
    assert.match(stdout(), /Examples:/);
  });

  it('every migrate command has a description and examples in its --help', async () => {
    for (const sub of ['latest', 'rollback', 'status']) {
      const { io, stdout } = captureIo();
      assert.equal(await main(['migrate', sub, '--help'], io), 0);
      assert.match(stdout(), new RegExp(`Usage: secops migrate ${sub}`));
      assert.match(stdout(), /Examples:\n\s+\$ secops migrate/);
    }
  });

  it('global options are accepted after the subcommand and reach the command', async () => {
    let seen: GlobalOptions | undefined;
    const openDatabase: DatabaseOpener = async (_io, options) => {
      seen = options;
      throw new CheckFailedError('stop here');
    };
    const { io, stdout, stderr } = captureIo();
    const code = await main(['migrate', 'status', '--json', '--database-url', 'postgres://h/db'], io, { openDatabase });
    assert.deepEqual(seen, { json: true, databaseUrl: 'postgres://h/db' });
    assert.equal(code, 1);
    assert.equal(stdout(), '');
    assert.match(stderr(), /stop here/);
  });
});

describe('secops exit codes', () => {
  it('an invalid configuration exits 78 and lists the problems on stderr only', async () => {
    const { io, stdout, stderr } = captureIo({ NODE_ENV: 'production' });
    assert.equal(await main(['--json', 'migrate', 'status'], io), 78);
    assert.equal(stdout(), '');
    assert.match(stderr(), /invalid configuration/);
    assert.match(stderr(), /^\s+- \S/m);
  });

  it('a malformed setting exits 78 without echoing its value', async () => {
    const { io, stderr } = captureIo({ DB_POOL_MAX: 'plenty' });
    assert.equal(await main(['migrate', 'status'], io), 78);
    assert.match(stderr(), /DB_POOL_MAX/);
    assert.doesNotMatch(stderr(), /plenty/);
  });

  it('a failure exits 1 and never prints the credentials of a connection URL', async () => {
    const openDatabase: DatabaseOpener = async () => {
      throw new Error('could not reach postgres://admin:hunter2@db.internal:5432/rampart');
    };
    const { io, stdout, stderr } = captureIo();
    assert.equal(await main(['migrate', 'latest'], io, { openDatabase }), 1);
    assert.equal(stdout(), '');
    assert.doesNotMatch(stderr(), /hunter2|admin/);
    assert.match(stderr(), /postgres:\/\/\[redacted\]@db\.internal:5432\/rampart/);
  });
});
