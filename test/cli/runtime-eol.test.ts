import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { run as updateEol } from '../../cli/src/commands/audit-update-eol.js';
import { createContext } from '../../cli/src/lib/context.js';
import {
  type EolTable,
  evaluateRuntimes,
  parseDebianCsv,
  parseNodeSchedule,
  runtimesOfImage,
  validateEolTable,
} from '../../cli/src/lib/supply-chain/runtime-eol.js';
import { captureIo } from './capture.js';

const SCHEDULE = {
  'v0.12': { start: '2015-02-06', end: '2016-12-31' },
  v20: { start: '2023-04-18', lts: '2023-10-24', maintenance: '2024-10-22', end: '2026-04-30', codename: 'Iron' },
  v25: { start: '2025-10-15', maintenance: '2026-04-01', end: '2026-06-01' },
  v26: { start: '2026-05-05', lts: '2026-10-28', maintenance: '2027-10-20', end: '2029-04-30', codename: '' },
  v28: { alpha: '2027-10-28' },
};
const DEBIAN_CSV = `version,codename,series,created,release,eol,eol-lts,eol-elts
12,Bookworm,bookworm,2021-08-14,2023-06-10,2026-07-11,2028-06-30,2033-06-30
13,Trixie,trixie,2023-06-10,2025-08-09,2028-08-09,2030-06-30,2035-06-30
14,Forky,forky,2025-08-09
,Sid,sid,1993-08-16
`;

const table = (): EolTable => ({
  node: { source: 'fixture', retrieved: '2026-12-06', lines: parseNodeSchedule(SCHEDULE) },
  debian: { source: 'fixture', retrieved: '2026-12-06', releases: parseDebianCsv(DEBIAN_CSV) },
});

describe("runtime end-of-life table from Node's schedule and Debian's distro-info", () => {
  it('keeps numbered Node lines with start and end dates, and numbered Debian releases', () => {
    const t = table();
    assert.deepEqual(
      t.node.lines.map((l) => l.line),
      [20, 25, 26],
    );
    assert.equal(t.node.lines[0]?.codename, 'Iron');
    assert.equal(t.node.lines[2]?.codename, undefined, 'an empty codename is dropped');
    assert.deepEqual(
      t.debian.releases.map((r) => [r.version, r.codename, r.eol ?? null]),
      [
        [12, 'bookworm', '2026-07-11'],
        [13, 'trixie', '2028-08-09'],
        [14, 'forky', null],
      ],
    );
    assert.deepEqual(validateEolTable(t).problems, []);
  });

  it('refuses inputs that are not a schedule or a distro-info table', () => {
    assert.throws(() => parseNodeSchedule([]), /not a Node release schedule/);
    assert.throws(() => parseNodeSchedule({ v30: { alpha: '2028-01-01' } }), /no release line/);
    assert.throws(() => parseDebianCsv('a,b\n1,2'), /not a distro-info debian.csv/);
    assert.ok(validateEolTable({ node: { lines: [] }, debian: { releases: [] } }).problems.length >= 2);
  });

  it('reads the runtimes an image names: official node tags, distroless and debian images', () => {
    const codenames = ['bookworm', 'trixie'];
    assert.deepEqual(runtimesOfImage('node:26.8.1-trixie-slim@sha256:abc', codenames), { node: 26, debian: 'trixie' });
    assert.deepEqual(runtimesOfImage('docker.io/library/node:20-bookworm', codenames), { node: 20, debian: 'bookworm' });
    assert.deepEqual(runtimesOfImage('gcr.io/distroless/nodejs26-debian13:nonroot', codenames), { node: 26, debian: '13' });
    assert.deepEqual(runtimesOfImage('debian:trixie-slim', codenames), { debian: 'trixie' });
    assert.deepEqual(runtimesOfImage('node:26-alpine', codenames), { node: 26 });
  });

  it('judges each runtime: supported, ending within the warning, end of life, unknown', () => {
    const findings = evaluateRuntimes(
      table(),
      [
        { kind: 'node', id: '26', source: 'a' },
        { kind: 'node', id: '20', source: 'b' },
        { kind: 'debian', id: 'bookworm', source: 'c' },
        { kind: 'debian', id: '13', source: 'd' },
        { kind: 'debian', id: 'forky', source: 'e' },
        { kind: 'node', id: '25', source: 'f' },
      ],
      '2026-05-01',
      90,
    );
    assert.deepEqual(
      findings.map((f) => [f.name, f.status, f.daysLeft]),
      [
        ['Node 26', 'supported', 1095],
        ['Node 20 (Iron)', 'end-of-life', -1],
        ['Debian 12 (bookworm)', 'ending', 71],
        ['Debian 13 (trixie)', 'supported', 831],
        ['Debian 14 (forky)', 'unknown', null],
        ['Node 25', 'ending', 31],
      ],
    );
    assert.match(findings[5]!.message, /not an LTS line/);
  });

  it('update-eol writes the table from a schedule URL and a debian.csv file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secops-eol-'));
    writeFileSync(join(dir, 'debian.csv'), DEBIAN_CSV);
    const asked: string[] = [];
    const fakeFetch = (async (url: string) => {
      asked.push(url);
      return new Response(JSON.stringify(SCHEDULE), { status: 200 });
    }) as unknown as typeof fetch;
    const io = captureIo();
    const ctx = createContext(io.io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    });
    const result = await updateEol(
      { cwd: dir, nodeSchedule: 'https://example.test/schedule.json', debianCsv: 'debian.csv', out: 'eol.json', today: '2026-12-06', fetch: fakeFetch },
      ctx,
    );
    assert.deepEqual(asked, ['https://example.test/schedule.json']);
    assert.deepEqual({ nodeLines: result.nodeLines, debianReleases: result.debianReleases }, { nodeLines: 3, debianReleases: 3 });
    const written = JSON.parse(readFileSync(join(dir, 'eol.json'), 'utf8')) as EolTable;
    assert.equal(written.node.retrieved, '2026-12-06');
    assert.equal(written.node.source, 'https://example.test/schedule.json');
    assert.deepEqual(validateEolTable(written).problems, []);
  });

  it('update-eol fails with a clear error when the schedule cannot be fetched, writing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secops-eol-'));
    const io = captureIo();
    const ctx = createContext(io.io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    });
    const failing = (async () => new Response('nope', { status: 503 })) as unknown as typeof fetch;
    await assert.rejects(
      updateEol({ cwd: dir, nodeSchedule: 'https://example.test/s.json', debianCsv: 'missing.csv', out: 'eol.json', fetch: failing }, ctx),
      /HTTP 503/,
    );
  });

  it('the committed table knows the lines this project runs', () => {
    const committed = JSON.parse(readFileSync(new URL('../../.secops/runtime-eol.json', import.meta.url), 'utf8'));
    const { table: t, problems } = validateEolTable(committed);
    assert.deepEqual(problems, []);
    assert.ok(t!.node.lines.some((l) => l.line === 26 && l.lts));
    assert.ok(t!.debian.releases.some((r) => r.codename === 'trixie' && r.eol));
  });
});
