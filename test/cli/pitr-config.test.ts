import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ArchiveSettings, archiveProblems, postgresqlConfLines, renderConfig } from '../../cli/src/lib/pitr/config-file.js';
import { archiveMetricsText, drillMetricsText } from '../../cli/src/lib/pitr/pushgateway.js';

const CONFIG = '/etc/pgbackrest/rampart.conf';
const good: ArchiveSettings = {
  walLevel: 'replica',
  archiveMode: 'on',
  archiveCommand: `pgbackrest --config=${CONFIG} --stanza=rampart archive-push %p`,
  archiveTimeout: '60',
};

describe('pgBackRest configuration and the server’s archiving', () => {
  it('writes an encrypted repository with the retention and the server’s own data directory and socket', () => {
    const text = renderConfig({
      stanza: 'rampart',
      repoPath: '/var/lib/pgbackrest',
      retentionFull: 3,
      cipherPass: 'p'.repeat(32),
      dataDirectory: '/var/lib/postgresql/15/main',
      port: 5433,
      socketDirectory: '/var/run/postgresql',
    });
    for (const line of [
      'repo1-path=/var/lib/pgbackrest',
      'repo1-retention-full=3',
      'repo1-cipher-type=aes-256-cbc',
      `repo1-cipher-pass=${'p'.repeat(32)}`,
      '[rampart]',
      'pg1-path=/var/lib/postgresql/15/main',
      'pg1-port=5433',
      'pg1-socket-path=/var/run/postgresql',
    ]) {
      assert.ok(text.split('\n').includes(line), line);
    }
  });

  it('a server archiving into this stanza with this configuration has no problem', () => {
    assert.deepEqual(archiveProblems(good, CONFIG, 'rampart'), []);
  });

  it('names each thing that is wrong, and what to put in postgresql.conf', () => {
    assert.deepEqual(
      archiveProblems({ ...good, walLevel: 'minimal', archiveMode: 'off', archiveCommand: '(disabled)' }, CONFIG, 'rampart'),
      [
        'wal_level is minimal: WAL archiving needs replica (or logical); restart required',
        'archive_mode is off: it must be on (restart required)',
        "archive_command is '(disabled)': it must call pgbackrest archive-push (reload suffices)",
      ],
    );
    assert.match(
      archiveProblems(
        { ...good, archiveCommand: `pgbackrest --config=${CONFIG} --stanza=other archive-push %p` },
        CONFIG,
        'rampart',
      )[0] ?? '',
      /does not name --stanza=rampart/,
    );
    assert.match(
      archiveProblems({ ...good, archiveCommand: 'pgbackrest --stanza=rampart archive-push %p' }, CONFIG, 'rampart')[0] ?? '',
      /reads the default \/etc\/pgbackrest\/pgbackrest.conf, not \/etc\/pgbackrest\/rampart.conf/,
    );
    assert.deepEqual(
      archiveProblems(
        { ...good, archiveCommand: 'pgbackrest --stanza=rampart archive-push %p' },
        '/etc/pgbackrest/pgbackrest.conf',
        'rampart',
      ),
      [],
    );
    assert.ok(
      postgresqlConfLines(CONFIG, 'rampart').includes(
        `archive_command = 'pgbackrest --config=${CONFIG} --stanza=rampart archive-push %p'`,
      ),
    );
  });
});

describe('PITR metrics for the Pushgateway', () => {
  it('publishes the archive lag, last archive time and window, and whether archiving fails', () => {
    const text = archiveMetricsText({
      sampledAt: '2026-12-06T10:20:00.000Z',
      lastArchivedAt: '2026-12-06T10:19:58.000Z',
      lag: { secondsSinceLastArchive: 2, unarchivedBytes: 4096, pendingSegments: 0, lagSeconds: 2, failing: false },
      window: { oldestBackupStartedAt: '', from: '', to: '', seconds: 86_400, backups: 1 },
    });
    assert.match(text, /^rampart_pitr_last_archive_timestamp_seconds 1796552398$/m);
    assert.match(text, /^rampart_pitr_archive_lag_seconds 2$/m);
    assert.match(text, /^rampart_pitr_unarchived_bytes 4096$/m);
    assert.match(text, /^rampart_pitr_archive_failing 0$/m);
    assert.match(text, /^rampart_pitr_window_seconds 86400$/m);
  });

  it('a failed drill reports its result without a success time', () => {
    const failed = drillMetricsText({
      ok: false,
      finishedAt: '2026-12-06T10:20:00.000Z',
      durationSeconds: 30,
      rtoSeconds: null,
      rpoSeconds: 1.5,
      archiveLag: null,
      window: null,
    });
    assert.match(failed, /^rampart_pitr_drill_last_result 0$/m);
    assert.doesNotMatch(failed, /last_success_timestamp_seconds \d/);
    const passed = drillMetricsText({
      ok: true,
      finishedAt: '2026-12-06T10:20:00.000Z',
      durationSeconds: 30,
      rtoSeconds: 5.7,
      rpoSeconds: 1,
      archiveLag: { unarchivedBytes: 8192 },
      window: { seconds: 3600, to: '2026-12-06T10:19:58.000Z' },
    });
    assert.match(passed, /^rampart_pitr_drill_last_success_timestamp_seconds 1796552400$/m);
    assert.match(passed, /^rampart_pitr_drill_window_seconds 3600$/m);
    assert.match(passed, /^rampart_pitr_drill_last_archive_timestamp_seconds 1796552398$/m);
    assert.match(passed, /^rampart_pitr_drill_unarchived_bytes 8192$/m);
    assert.doesNotMatch(passed, /^rampart_pitr_archive_lag_seconds/m, 'drill samples never feed the archiving alerts');
    assert.match(passed, /^rampart_pitr_drill_rto_seconds 5.7$/m);
  });
});
