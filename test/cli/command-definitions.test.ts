import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { benchOptions } from '../../cli/src/commands/argon2.command.js';
import { COMMAND_GROUPS } from '../../cli/src/commands/index.js';
import { keysTarget, rotateOptions } from '../../cli/src/commands/keys.command.js';
import { readinessOptions } from '../../cli/src/commands/readiness.command.js';
import type { DatabaseOpener } from '../../cli/src/lib/context.js';
import { UsageError } from '../../cli/src/lib/errors.js';
import { buildProgram, main, requestedGroup } from '../../cli/src/main.js';
import { captureIo } from './capture.js';

/** Every command that runs something (no subcommands of its own), with its full name. */
function leaves(command: Command, prefix = ''): { name: string; command: Command }[] {
  const name = `${prefix}${prefix ? ' ' : ''}${command.name()}`;
  if (command.commands.length === 0) return [{ name, command }];
  return command.commands.flatMap((c) => leaves(c, name));
}

const neverOpened: DatabaseOpener = async () => assert.fail('a usage error must be reported before the database is opened');

describe('secops command definitions (cli/src/commands/*.command.ts)', () => {
  it('each listed group registers exactly its own top-level command, in the listed order', async () => {
    const program = await buildProgram(captureIo().io);
    assert.deepEqual(
      program.commands.map((c) => c.name()),
      COMMAND_GROUPS.map((g) => g.name),
    );
  });

  it('each group’s listed summary is the description its definition registers (and [options] where it has them)', async () => {
    const full = await buildProgram(captureIo().io);
    for (const entry of COMMAND_GROUPS) {
      const registered = full.commands.find((c) => c.name() === entry.name);
      assert.ok(registered, entry.name);
      assert.equal(entry.summary, registered.description(), `${entry.name}: the summary in commands/index.ts`);
      assert.equal(entry.hasOptions === true, registered.options.length > 0, `${entry.name}: hasOptions`);
    }
  });

  it('`secops --help` lists the groups exactly as with every definition loaded, and loads none of them', async () => {
    const listed = await buildProgram(captureIo().io, {}, ['--help']);
    const full = await buildProgram(captureIo().io);
    assert.equal(listed.helpInformation(), full.helpInformation());
    for (const command of listed.commands) assert.equal(command.commands.length, 0, `${command.name()} was loaded`);
  });

  it('a command line loads the group it names, after global options and their values, or after help', () => {
    assert.equal(requestedGroup(['--help']), undefined);
    assert.equal(requestedGroup([]), undefined);
    assert.equal(requestedGroup(['migrate', 'status']), 'migrate');
    assert.equal(requestedGroup(['--json', '--database-url', 'postgres://x/db', 'backup', 'list']), 'backup');
    assert.equal(requestedGroup(['--database-url=postgres://x/db', 'keys', '--help']), 'keys');
    assert.equal(requestedGroup(['help', 'readiness']), 'readiness');
  });

  it('every command that runs has a description and examples in its --help', async () => {
    const all = leaves(await buildProgram(captureIo().io));
    assert.ok(all.length >= 25, `only ${all.length} commands`);
    for (const { name, command } of all) {
      assert.ok(command.description().length > 10, `${name}: no description`);
      const { io, stdout } = captureIo();
      const argv = [...name.split(' ').slice(1), '--help'];
      assert.equal(await main(argv, io), 0, name);
      assert.match(stdout(), /Examples:\n\s+\$ /, `${name}: no examples`);
    }
  });

  const badValues: [argv: string[], message: RegExp][] = [
    [['backup', 'create', '--jobs', '0'], /--jobs must be a whole number from 1 to 64/],
    [['backup', 'prune', '--keep-daily', '7.5'], /--keep-daily must be a whole number/],
    [['backup', 'drill', '--max-age', '26'], /--max-age must be a duration/],
    [['backup', 'drill', '--checksum', 'crc32'], /argument 'crc32' is invalid/],
    [['retention', 'run', '--older-than', '90d', '--batch-size', '1e3', '--dry-run'], /--batch-size must be a whole number/],
    [['retention', 'run', '--older-than', '90s', '--dry-run'], /at least 1d/],
    [['db', 'roles', 'apply', '--connection-limit', '0'], /--connection-limit must be a whole number from 1 to 10000/],
    [['db', 'roles', 'check', '--user', 'x; drop table users'], /user name/],
    [['db', 'rotate-password', '--ref', 'file:/tmp/x', '--users', 'a,a'], /two different names/],
    [['migrate', 'latest', '--lock-timeout', 'soon'], /--lock-timeout must be a duration/],
    [['keys', 'rotate'], /which phase\?/],
    [['keys', 'rotate', 'stage', '--all-phases'], /not both/],
    [['keys', 'init', '--alg', 'RS256'], /--alg must be EdDSA or HS256/],
    [['keys', '--reload-interval', 'often', 'list'], /--reload-interval must be a duration/],
    [['secret', 'generate', '--bytes', '16'], /--bytes must be a whole number from 32 to 1024/],
    [['argon2', 'bench', '--memory-budget', 'lots'], /--memory-budget must look like/],
    [['argon2', 'bench', '--grid', 'huge'], /argument 'huge' is invalid/],
    [['audit', '--level', 'severe'], /argument 'severe' is invalid/],
    [['audit', '--eol-warning-days', '-1'], /--eol-warning-days must be a whole number/],
    [['readiness', '--url', 'ftp://example.com'], /--url must be http:\/\/ or https:\/\//],
    [['readiness', '--url', 'https://example.com', '--timeout', '0'], /--timeout must be more than 0/],
  ];
  for (const [argv, message] of badValues) {
    it(`\`secops ${argv.join(' ')}\` is a usage error (exit 2) before anything runs`, async () => {
      const { io, stdout, stderr } = captureIo();
      assert.equal(await main(argv, io, { openDatabase: neverOpened }), 2, stderr());
      assert.match(stderr(), message);
      assert.equal(stdout(), '');
    });
  }

  it('parses flags into the typed options the command runs with', () => {
    assert.deepEqual(keysTarget({ ref: 'file:/k', reloadInterval: '30s' }), { ref: 'file:/k', timings: { reloadIntervalMs: 30_000 } });
    assert.deepEqual(rotateOptions(undefined, { allPhases: true, alg: 'ed25519' }), {
      action: 'rotate',
      ref: undefined,
      timings: {},
      phases: ['stage', 'promote', 'prune'],
      alg: 'EdDSA',
      replicas: [],
      wait: true,
      dryRun: false,
    });
    const promote = rotateOptions('promote', { alg: 'EdDSA', replica: ['https://10.0.1.7:9464'], replicaCa: 'ca.crt', replicaServerName: 'rampart-metrics' });
    assert.deepEqual(promote.action === 'rotate' && promote.replicaTls, { caFile: 'ca.crt', serverName: 'rampart-metrics' });
    assert.deepEqual(benchOptions({ budgetMs: '400', memoryBudget: '1GiB', grid: 'full', rounds: '3' }), {
      budgetMs: 400,
      memoryBudgetKiB: 1_048_576,
      concurrency: undefined,
      grid: 'full',
      rounds: 3,
      svg: undefined,
    });
    const readinessFlags = { drillMaxAge: '48h', pitrMinWindow: '24h', retentionMaxAge: '91d', timeout: '10s', runtimeRole: 'rampart_runtime' };
    const readiness = readinessOptions({ url: 'https://api.example.com', ...readinessFlags });
    assert.equal(readiness.url.origin, 'https://api.example.com');
    assert.equal(readiness.drillMaxAgeMs, 172_800_000);
    assert.equal(readiness.timeoutMs, 10_000);
    assert.equal(readiness.signupProbe, false);
    assert.equal(readiness.retentionMaxAgeMs, 91 * 86_400_000);
    assert.equal(readiness.ci, undefined);
    assert.deepEqual(readinessOptions({ url: 'https://api.example.com', ...readinessFlags, ci: true }).ci, {
      junit: 'readiness.junit.xml',
      summary: 'readiness.md',
    });
    assert.throws(() => readinessOptions({ url: 'https://api.example.com', ...readinessFlags, junit: 'x.xml' }), /add --ci/);
    assert.throws(() => readinessOptions({ url: 'not a url', ...readinessFlags }), UsageError);
  });
});
