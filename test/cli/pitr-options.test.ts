import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DatabaseOpener } from '../../cli/src/lib/context.js';
import { main } from '../../cli/src/main.js';
import { captureIo } from './capture.js';

const neverOpened: DatabaseOpener = async () => {
  throw new Error('the database must not be opened');
};

describe('secops pitr arguments and settings', () => {
  const badValues: [string[], RegExp][] = [
    [['pitr', 'restore', '--target-dir', '/tmp/x'], /exactly one of --to <timestamp> and --to-latest/],
    [['pitr', 'restore', '--to', '2026-12-06T03:00:00Z', '--to-latest', '--target-dir', '/tmp/x'], /exactly one of/],
    [['pitr', 'restore', '--to', '2026-12-06 03:00:00', '--target-dir', '/tmp/x'], /--to must be a timestamp with a time zone/],
    [['pitr', 'restore', '--to-latest'], /required option '--target-dir <dir>'/],
    [['pitr', 'restore', '--to-latest', '--target-dir', '/tmp/x', '--port', '80'], /--port must be a whole number from 1024/],
    [['pitr', 'backup', '--type', 'weekly'], /argument 'weekly' is invalid/],
    [['pitr', 'drill', '--markers', '1'], /--markers must be a whole number from 2/],
    [['pitr', 'drill', '--marker-interval', '5'], /--marker-interval must be a duration/],
  ];
  for (const [argv, message] of badValues) {
    it(`\`secops ${argv.join(' ')}\` is a usage error (exit 2) before anything runs`, async () => {
      const { io, stdout, stderr } = captureIo();
      assert.equal(await main(argv, io, { openDatabase: neverOpened }), 2, stderr());
      assert.match(stderr(), message);
      assert.equal(stdout(), '');
    });
  }

  it('setup without a repository passphrase is a configuration error (exit 78) naming the setting', async () => {
    const { io, stderr } = captureIo({});
    assert.equal(await main(['pitr', 'setup'], io, { openDatabase: neverOpened }), 78, stderr());
    assert.match(stderr(), /PITR_REPO_CIPHER_PASS \(or _FILE \/ _REF\) is required/);
  });

  it('a passphrase file that cannot be read is a configuration error, and the value is never printed', async () => {
    const { io, stderr } = captureIo({ PITR_REPO_CIPHER_PASS_FILE: '/nonexistent/pitr-pass' });
    assert.equal(await main(['pitr', 'setup'], io, { openDatabase: neverOpened }), 78, stderr());
    assert.match(stderr(), /PITR_REPO_CIPHER_PASS_FILE: cannot read \/nonexistent\/pitr-pass/);
  });

  it('--help lists every pitr command and the exit codes', async () => {
    const { io, stdout } = captureIo();
    assert.equal(await main(['pitr', '--help'], io, { openDatabase: neverOpened }), 0);
    for (const command of ['setup', 'backup', 'status', 'restore', 'drill'])
      assert.match(stdout(), new RegExp(`^  ${command}\\b`, 'm'));
    assert.match(stdout(), /Exit codes: 0 done/);
  });
});
