import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ArchiverSample, archiveLag, lsnToBytes, walSegmentNumber } from '../../cli/src/lib/pitr/archiver.js';
import { parseStanzaInfo } from '../../cli/src/lib/pitr/info.js';
import { outsideWindow, recoverabilityWindow } from '../../cli/src/lib/pitr/window.js';

/** `pgbackrest info --output=json` (2.45) of a stanza with a full and an incremental backup. */
const INFO = JSON.stringify([
  {
    archive: [
      { database: { id: 1, 'repo-key': 1 }, id: '15-1', max: '00000001000000000000000D', min: '000000010000000000000001' },
    ],
    backup: [
      {
        archive: { start: '000000010000000000000009', stop: '000000010000000000000009' },
        info: { delta: 1000, repository: { delta: 300, size: 300 }, size: 1000 },
        label: '20261206-101700F_20261206-101800I',
        timestamp: { start: 1796552280, stop: 1796552282 },
        type: 'incr',
      },
      {
        archive: { start: '000000010000000000000003', stop: '000000010000000000000003' },
        info: { delta: 23_000_000, repository: { delta: 2_900_000, size: 2_900_000 }, size: 23_000_000 },
        label: '20261206-101700F',
        timestamp: { start: 1796552220, stop: 1796552224 },
        type: 'full',
      },
    ],
    cipher: 'aes-256-cbc',
    name: 'rampart',
    status: { code: 0, lock: { backup: { held: false } }, message: 'ok' },
  },
  { name: 'other', status: { code: 1, message: 'missing stanza path' } },
]);

const sample = (over: Partial<ArchiverSample> = {}): ArchiverSample => ({
  now: '2026-12-06T10:20:00.000Z',
  currentLsn: '0/D001000',
  currentWalFile: '00000001000000000000000D',
  walSegmentBytes: 16 * 1024 * 1024,
  archivedCount: 12,
  lastArchivedWal: '00000001000000000000000C',
  lastArchivedAt: '2026-12-06T10:19:58.500Z',
  failedCount: 0,
  lastFailedWal: null,
  lastFailedAt: null,
  ...over,
});

describe('pgbackrest info, archive lag and the recoverability window', () => {
  it('reads the stanza’s backups oldest first and its archived WAL range', () => {
    const info = parseStanzaInfo(INFO, 'rampart');
    assert.deepEqual(
      info.backups.map((b) => [b.label, b.type, b.startedAt, b.stoppedAt]),
      [
        ['20261206-101700F', 'full', '2026-12-06T10:17:00.000Z', '2026-12-06T10:17:04.000Z'],
        ['20261206-101700F_20261206-101800I', 'incr', '2026-12-06T10:18:00.000Z', '2026-12-06T10:18:02.000Z'],
      ],
    );
    assert.deepEqual(info.archive, { min: '000000010000000000000001', max: '00000001000000000000000D' });
    assert.equal(info.backups[0]?.repoSizeBytes, 2_900_000);
  });

  it('names a stanza pgBackRest does not know, and refuses output that is not JSON', () => {
    assert.throws(() => parseStanzaInfo(INFO, 'rampart_prod'), /no stanza rampart_prod/);
    assert.throws(() => parseStanzaInfo('ERROR: [055]: unable to open', 'rampart'), /did not print JSON/);
  });

  it('the window runs from the end of the oldest full backup to the newest archived WAL', () => {
    const window = recoverabilityWindow(parseStanzaInfo(INFO, 'rampart'), sample());
    assert.deepEqual(window, {
      oldestBackupStartedAt: '2026-12-06T10:17:00.000Z',
      from: '2026-12-06T10:17:04.000Z',
      to: '2026-12-06T10:19:58.500Z',
      seconds: 175,
      backups: 2,
    });
    assert.equal(outsideWindow(window, new Date('2026-12-06T10:18:00Z')), undefined);
    assert.match(outsideWindow(window, new Date('2026-12-06T10:17:03Z')) ?? '', /before the oldest backup finished/);
    assert.match(outsideWindow(window, new Date('2026-12-06T10:19:59Z')) ?? '', /after the newest archived WAL/);
  });

  it('there is no window without a full backup or without archived WAL', () => {
    const empty = parseStanzaInfo(
      JSON.stringify([{ name: 'rampart', status: { code: 2, message: 'no valid backups' } }]),
      'rampart',
    );
    assert.equal(recoverabilityWindow(empty, sample()), null);
    assert.equal(recoverabilityWindow(parseStanzaInfo(INFO, 'rampart'), sample({ lastArchivedAt: null })), null);
    assert.match(outsideWindow(null, new Date()) ?? '', /take a full backup/);
  });

  it('segment names and LSNs map to byte positions', () => {
    assert.equal(lsnToBytes('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
    assert.equal(walSegmentNumber('000000010000000100000002', 16 * 1024 * 1024), 258n);
    assert.throws(() => lsnToBytes('nope'), /not an LSN/);
  });

  it('a busy server whose last segment is archived lags by the seconds since then and the unfinished segment', () => {
    const lag = archiveLag(sample());
    assert.deepEqual(lag, {
      secondsSinceLastArchive: 1.5,
      unarchivedBytes: 0x1000,
      pendingSegments: 0,
      lagSeconds: 1.5,
      failing: false,
    });
  });

  it('segments waiting behind a stalled archiver are counted, and a newer failure than success is failing', () => {
    const lag = archiveLag(
      sample({
        currentLsn: '0/10000100',
        currentWalFile: '000000010000000000000010',
        lastArchivedAt: '2026-12-06T10:10:00.000Z',
        lastFailedWal: '00000001000000000000000D',
        lastFailedAt: '2026-12-06T10:19:00.000Z',
      }),
    );
    assert.equal(lag.pendingSegments, 3);
    assert.equal(lag.unarchivedBytes, 3 * 16 * 1024 * 1024 + 0x100);
    assert.equal(lag.lagSeconds, 600);
    assert.equal(lag.failing, true);
  });

  it('nothing waiting is no lag, however long ago the last archive was (a quiet server)', () => {
    const lag = archiveLag(sample({ currentLsn: '0/D000000', lastArchivedAt: '2026-12-06T09:00:00.000Z' }));
    assert.equal(lag.lagSeconds, 0);
    assert.equal(lag.secondsSinceLastArchive, 4800);
  });

  it('a backup label as the last archived file does not count its segment as archived', () => {
    const lag = archiveLag(sample({ lastArchivedWal: '00000001000000000000000D.00000028.backup' }));
    assert.equal(lag.unarchivedBytes, 0x1000);
    assert.equal(lag.pendingSegments, 0);
  });

  it('never archived: the lag is unknown', () => {
    assert.deepEqual(archiveLag(sample({ lastArchivedWal: null, lastArchivedAt: null, archivedCount: 0 })), {
      secondsSinceLastArchive: null,
      unarchivedBytes: null,
      pendingSegments: null,
      lagSeconds: null,
      failing: false,
    });
  });
});
