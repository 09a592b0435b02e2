import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { run } from '../../cli/src/commands/release.js';
import { createContext } from '../../cli/src/lib/context.js';
import { parseCommit } from '../../cli/src/lib/supply-chain/conventional-commits.js';
import { captureIo } from './capture.js';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_AUTHOR_DATE: '2026-03-01T12:00:00Z',
  GIT_COMMITTER_DATE: '2026-03-01T12:00:00Z',
  GIT_CONFIG_GLOBAL: '/dev/null',
};

function git(cwd: string, ...args: string[]) {
  return execFileSync('git', args, { cwd, env: GIT_ENV }).toString().trim();
}

function commit(cwd: string, message: string) {
  writeFileSync(join(cwd, 'log.txt'), `${message}\n${Math.random()}\n`);
  git(cwd, 'add', 'log.txt');
  git(cwd, 'commit', '-q', '-m', message);
}

function notes(cwd: string, options: { from?: string; version?: string } = {}, json = false) {
  const captured = captureIo({});
  const ctx = createContext(captured.io, { json, databaseUrl: undefined }, async () => {
    throw new Error('no database');
  });
  return run({ cwd, ...options }, ctx).then((result) => ({ result, stdout: captured.stdout() }));
}

describe('secops release notes', () => {
  let repo: string;

  before(() => {
    repo = mkdtempSync(join(tmpdir(), 'secops-release-'));
    git(repo, 'init', '-q', '-b', 'main');
    writeFileSync(join(repo, 'package.json'), JSON.stringify({ name: 'x', version: '0.2.0' }));
    git(repo, 'add', 'package.json');
    commit(repo, 'chore: initial commit');
    git(repo, 'tag', 'v0.1.0');
    commit(repo, 'feat(chat): stream replies over SSE');
    commit(repo, 'fix: close the pool on shutdown');
    commit(repo, 'perf(auth): one round trip fewer at login');
    commit(repo, 'security: bound Argon2 parameters of stored hashes');
    commit(repo, 'feat(api)!: remove the v1 token endpoint');
    commit(repo, 'refactor: split auth flows\n\nBREAKING CHANGE: PasswordHasher.verify throws on unsupported hashes');
    commit(repo, 'Update README');
    commit(repo, 'docs: runbooks for every alert');
  });

  it('groups the commits since the last tag, breaking changes first, the rest under Other', async () => {
    const { result, stdout } = await notes(repo);
    assert.equal(result.from, 'v0.1.0');
    assert.deepEqual(
      result.sections.map((s) => s.title),
      ['Breaking changes', 'Security', 'Features', 'Bug fixes', 'Performance', 'Documentation', 'Other'],
    );
    assert.match(stdout, /^## 0\.2\.0 \(2026-03-01\)/);
    const breaking = stdout.slice(stdout.indexOf('### ⚠ Breaking changes'), stdout.indexOf('### Security'));
    assert.match(breaking, /\*\*api:\*\* remove the v1 token endpoint/);
    assert.match(breaking, /split auth flows \([0-9a-f]{7}\)\n {2}PasswordHasher\.verify throws on unsupported hashes/);
    assert.match(stdout, /### Features\n\n- \*\*chat:\*\* stream replies over SSE \([0-9a-f]{7}\)/);
    assert.match(stdout, /### Other\n\n- Update README/);
    assert.doesNotMatch(stdout, /initial commit/, 'the tagged commit is not part of the next release');
  });

  it('with no tag, starts from the first commit', async () => {
    const untagged = mkdtempSync(join(tmpdir(), 'secops-release-untagged-'));
    git(untagged, 'init', '-q', '-b', 'main');
    commit(untagged, 'chore: initial commit');
    commit(untagged, 'feat: first feature');
    const { result, stdout } = await notes(untagged, { version: '1.0.0' });
    assert.equal(result.from, null);
    assert.match(stdout, /^## 1\.0\.0/);
    assert.match(stdout, /initial commit/);
    assert.match(stdout, /first feature/);
  });

  it('--from and --json give the same notes as a document', async () => {
    const { result, stdout } = await notes(repo, { from: 'v0.1.0', version: '0.2.0' }, true);
    const doc = JSON.parse(stdout);
    assert.equal(doc.markdown, result.markdown);
    assert.equal(doc.sections[0].title, 'Breaking changes');
  });

  it('an unknown --from is an error, not empty notes', async () => {
    await assert.rejects(notes(repo, { from: 'v9.9.9' }), /not a tag or commit/);
  });

  it('parses conventional headers strictly', () => {
    const c = (subject: string, body = '') => parseCommit({ sha: 'abc1234', subject, body });
    assert.deepEqual(
      { ...c('feat(scope)!: x') },
      { sha: 'abc1234', type: 'feat', scope: 'scope', description: 'x', breaking: true, breakingNote: null },
    );
    assert.equal(c('feat:missing space').type, null);
    assert.equal(c('fix: y', 'BREAKING-CHANGE: z').breakingNote, 'z');
  });
});
