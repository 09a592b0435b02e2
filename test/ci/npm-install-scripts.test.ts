/**
 * Dependency install scripts (issue 26): only those package.json "allowScripts" approves may run.
 * npm ≥ 11.16 reads allowScripts; with the repository's .npmrc (`strict-allow-scripts=true`) an
 * install that meets a dependency script nobody reviewed fails before running any script, a denied
 * (`false`) package's scripts are skipped, and an approved (`true`) one's run. Proven here with the
 * npm on PATH (the one .ci/run and the Dockerfile use) installing fixture tarballs offline into a
 * temporary project that carries the repository's .npmrc.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'rampart-npm-scripts-'));
after(() => rmSync(work, { recursive: true, force: true }));

const npmrcLines = () =>
  existsSync(join(ROOT, '.npmrc'))
    ? readFileSync(join(ROOT, '.npmrc'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#') && !l.startsWith(';'))
    : [];

/** A registry-shaped tarball whose preinstall and postinstall each write a marker file. */
function fixture(name: string): string {
  const dir = join(work, 'src', name, 'package');
  mkdirSync(dir, { recursive: true });
  const write = (hook: string) =>
    `node -e "require('fs').writeFileSync(require('path').join(process.env.MARKER_DIR, '${name}-${hook}'), 'ran')"`;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', scripts: { preinstall: write('preinstall'), postinstall: write('postinstall') } }),
  );
  const tgz = join(work, 'vendor', `${name}-1.0.0.tgz`);
  mkdirSync(join(work, 'vendor'), { recursive: true });
  execFileSync('tar', ['-czf', tgz, '-C', join(work, 'src', name), 'package']);
  return tgz;
}

const unreviewed = fixture('rampart-fixture-unreviewed');
const approved = fixture('rampart-fixture-approved');
const denied = fixture('rampart-fixture-denied');

/** `npm install` offline in a fresh project with the repository's .npmrc and only it. */
function install(project: string, deps: Record<string, string>, allowScripts: Record<string, boolean>) {
  const dir = join(work, project);
  const markers = join(dir, 'markers');
  mkdirSync(markers, { recursive: true });
  if (existsSync(join(ROOT, '.npmrc'))) copyFileSync(join(ROOT, '.npmrc'), join(dir, '.npmrc'));
  const dependencies = Object.fromEntries(Object.entries(deps).map(([name, tgz]) => [name, `file:${tgz}`]));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: project, version: '1.0.0', private: true, dependencies, allowScripts }));
  // No user or global npmrc of the machine: the project's .npmrc alone decides (two files: npm refuses one for both).
  const userconfig = join(work, 'user-npmrc');
  const globalconfig = join(work, 'global-npmrc');
  writeFileSync(userconfig, '');
  writeFileSync(globalconfig, '');
  const r = spawnSync('npm', ['install', '--offline', '--no-audit', '--no-fund'], {
    cwd: dir,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      MARKER_DIR: markers,
      npm_config_userconfig: userconfig,
      npm_config_globalconfig: globalconfig,
      npm_config_cache: join(work, 'cache'),
      npm_config_update_notifier: 'false',
    },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, ran: readdirSync(markers).sort() };
}

/** allowScripts keys for file: tarballs are their resolved `file:` spec (npm matches registry packages by name). */
const key = (tgz: string) => `file:${tgz}`;

describe('npm install scripts: allowScripts is enforced', () => {
  it('the npm on PATH reads allowScripts (≥ 11.16) and the repository’s .npmrc makes an unreviewed script an error', () => {
    const version = execFileSync('npm', ['--version'], { encoding: 'utf8' }).trim();
    const [major, minor] = version.split('.').map(Number) as [number, number];
    assert.ok(major > 11 || (major === 11 && minor >= 16), `npm ${version} ignores allowScripts (needs ≥ 11.16)`);
    const lines = npmrcLines();
    assert.ok(lines.includes('strict-allow-scripts=true'), '.npmrc sets strict-allow-scripts=true');
    // Not ignore-scripts: it would also skip the project's own "prepare" and make allowScripts moot.
    assert.ok(!lines.some((l) => /^(ignore-scripts|dangerously-allow-all-scripts)\s*=\s*true/.test(l)), lines.join('\n'));
  });

  it('a dependency whose install script nobody reviewed fails the install, and no script runs', () => {
    const r = install('unreviewed', { 'rampart-fixture-unreviewed': unreviewed, 'rampart-fixture-approved': approved }, {
      [key(approved)]: true,
    });
    assert.deepEqual(r.ran, [], `no install script ran:\n${r.output}`);
    assert.notEqual(r.status, 0, `the install must fail:\n${r.output}`);
    assert.match(r.output, /ESTRICTALLOWSCRIPTS|not covered by allowScripts/);
    assert.match(r.output, /rampart-fixture-unreviewed/);
  });

  it('a denied dependency installs without its scripts; an approved one runs its scripts', () => {
    const r = install('reviewed', { 'rampart-fixture-approved': approved, 'rampart-fixture-denied': denied }, {
      [key(approved)]: true,
      [key(denied)]: false,
    });
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(r.ran, ['rampart-fixture-approved-postinstall', 'rampart-fixture-approved-preinstall']);
    assert.ok(existsSync(join(work, 'reviewed', 'node_modules', 'rampart-fixture-denied', 'package.json')), 'denied is installed');
  });

  it('every dependency with an install script in package-lock.json has a reviewed allowScripts entry', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { hasInstallScript?: boolean; version?: string }>;
    };
    const policy = pkg.allowScripts ?? {};
    const covered = (name: string, version: string | undefined) => `${name}@${version}` in policy || name in policy;
    const missing = Object.entries(lock.packages)
      .filter(([path, p]) => path && p.hasInstallScript)
      .map(([path, p]) => [path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length), p.version] as const)
      .filter(([name, version]) => !covered(name, version))
      .map(([name, version]) => `${name}@${version}`);
    assert.deepEqual(missing, [], 'npm ci would stop at these (review them: npm install-scripts ls)');
  });
});
