import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isoWeek, planRetention } from '../../cli/src/lib/backup/retention.js';
import { fabricateChain, secops, tempDir } from './backup-fixtures.js';

describe('backup retention (grandfather-father-son)', () => {
  it('ISO weeks start on Monday and week 1 holds the first Thursday', () => {
    assert.equal(isoWeek(new Date('2026-11-27T12:00:00Z')), '2026-W48'); // a Friday
    assert.equal(isoWeek(new Date('2026-11-23T00:00:00Z')), '2026-W48'); // its Monday
    assert.equal(isoWeek(new Date('2026-11-22T23:59:59Z')), '2026-W47'); // the Sunday before
    assert.equal(isoWeek(new Date('2027-01-01T00:00:00Z')), '2026-W53');
    assert.equal(isoWeek(new Date('2024-12-30T00:00:00Z')), '2025-W01');
  });

  it('keeps the newest backup of each of the last N days and M weeks that have backups', () => {
    const items = [
      '2026-11-27T22:00:00Z',
      '2026-11-27T10:00:00Z', // same day, older: deleted
      '2026-11-26T22:00:00Z',
      '2026-11-24T22:00:00Z', // third day
      '2026-11-20T22:00:00Z', // week 47's newest
      '2026-11-19T22:00:00Z',
      '2026-11-10T22:00:00Z', // week 46's newest
      '2026-11-01T22:00:00Z', // week 44: beyond 3 weeks
    ].map((createdAt) => ({ createdAt }));
    const plan = planRetention(items, { daily: 3, weekly: 3 });
    assert.deepEqual(
      plan.keep.map((k) => k.item.createdAt),
      ['2026-11-27T22:00:00Z', '2026-11-26T22:00:00Z', '2026-11-24T22:00:00Z', '2026-11-20T22:00:00Z', '2026-11-10T22:00:00Z'],
    );
    assert.deepEqual(
      plan.remove.map((r) => r.createdAt),
      ['2026-11-27T10:00:00Z', '2026-11-19T22:00:00Z', '2026-11-01T22:00:00Z'],
    );
  });

  it('never deletes the newest backup, whatever the policy', () => {
    const plan = planRetention([{ createdAt: '2026-01-01T00:00:00Z' }, { createdAt: '2025-01-01T00:00:00Z' }], { daily: 0, weekly: 0 });
    assert.deepEqual(plan.keep.map((k) => k.item.createdAt), ['2026-01-01T00:00:00Z']);
  });
});

describe('secops backup prune', () => {
  const root = tempDir('prune');
  after(() => rmSync(root, { recursive: true, force: true }));

  const dates = [
    '2026-11-27T22:15:00Z',
    '2026-11-27T03:00:00Z',
    '2026-11-25T22:15:00Z',
    '2026-11-16T22:15:00Z',
    '2026-11-15T22:15:00Z',
    '2026-10-01T22:15:00Z',
  ];
  const ids = fabricateChain(root, [...dates].reverse()).map((b) => b.id).reverse();
  mkdirSync(join(root, 'not-a-backup'));
  mkdirSync(join(root, '20261001T000000Z.partial'));

  it('--dry-run reports what it would delete and deletes nothing', async () => {
    const run = await secops(['--json', 'backup', 'prune', '--dir', root, '--keep-daily', '2', '--keep-weekly', '2', '--dry-run'], undefined);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { kept: { id: string }[]; deleted: { id: string }[] };
    assert.deepEqual(result.kept.map((k) => k.id), [ids[0], ids[2], ids[3]]);
    assert.deepEqual(result.deleted.map((d) => d.id), [ids[1], ids[4], ids[5]]);
    assert.equal(readdirSync(root).length, dates.length + 2);
  });

  it('deletes the rest, and only directories that hold a valid manifest', async () => {
    const run = await secops(['backup', 'prune', '--dir', root, '--keep-daily', '2', '--keep-weekly', '2'], undefined);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /3 kept, 3 deleted/);
    assert.deepEqual(readdirSync(root).sort(), ['20261001T000000Z.partial', ids[0], ids[2], ids[3], 'not-a-backup'].sort());
  });

  it('list reads the same manifests, newest first', async () => {
    const run = await secops(['--json', 'backup', 'list', '--dir', root], undefined);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as { backups: { id: string }[] }).backups.map((b) => b.id), [ids[0], ids[2], ids[3]]);
  });

  it('a negative count is a usage error (exit 2)', async () => {
    const run = await secops(['backup', 'prune', '--dir', root, '--keep-daily', '-1'], undefined);
    assert.equal(run.code, 2);
  });
});
