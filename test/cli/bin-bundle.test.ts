import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { buildProgram, main } from '../../cli/src/main.js';
import { buildRelease, type Release } from '../helpers/release.js';
import { captureIo } from './capture.js';

/**
 * bin/secops.js with a build: it runs the bundle scripts/build-cli.mjs writes to dist/cli/bundle/, and
 * only when that bundle is as new as the sources; `--help` through it loads no database, SDK or crypto
 * module; and the bundle answers exactly as the sources do. Every tree here is a release tree built
 * into a temporary folder (test/helpers/release.ts), never this checkout's dist/.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function secops(
  root: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...(options.nodeArgs ?? []), join(root, 'bin/secops.js'), ...args], {
      cwd: root,
      env: options.env ?? { PATH: process.env.PATH },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * Records, at exit, every module the process resolved (ESM and require, through module hooks) and
 * every Node builtin it loaded however it was asked for (process.moduleLoadList also sees
 * process.getBuiltinModule, which no hook does), into the file REC_OUT names.
 */
const RECORDER = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const urls = new Set();
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); urls.add(r.url); return r; } });
const recordedAtStart = new Set(process.moduleLoadList);
process.on('exit', () => writeFileSync(process.env.REC_OUT, JSON.stringify({
  urls: [...urls],
  builtins: process.moduleLoadList.filter((m) => !recordedAtStart.has(m) && m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length)),
})));
`)}`;

async function loadedBy(root: string, args: string[]): Promise<{ outcome: Outcome; urls: string[]; builtins: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-secops-modules-'));
  try {
    const out = join(dir, 'loaded.json');
    const outcome = await secops(root, args, { nodeArgs: ['--import', RECORDER], env: { PATH: process.env.PATH, REC_OUT: out } });
    return { outcome, ...(JSON.parse(readFileSync(out, 'utf8')) as { urls: string[]; builtins: string[] }) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builtins that would mean a database driver, an SDK, crypto or a network client was loaded. */
const HEAVY_BUILTIN =
  /^(crypto|internal\/crypto\/|tls|_tls_|https|http|http2|internal\/http2\/|zlib|dns|dgram|child_process|sqlite|internal\/deps\/undici)/;

let release: Release;
before(() => {
  release = buildRelease();
});
after(() => release?.remove());

describe('`secops --help` through the bundle (no sources beside it, as in the image)', () => {
  // `--json` before `--help`: a command line the build's rendered pages do not answer (below), so
  // commander renders the help from the bundle.
  for (const args of [
    ['--json', '--help'],
    ['keys', '--json', '--help'],
    ['backup', '--json', '--help'],
    ['db', 'roles', '--json', '--help'],
  ]) {
    it(`\`secops ${args.join(' ')}\` loads the bundle's entry and shared chunks only: no package, no service module, no heavy builtin`, async () => {
      const { outcome, urls, builtins } = await loadedBy(release.root, args);
      assert.equal(outcome.code, 0, outcome.stderr);
      assert.equal(outcome.stderr, '');
      assert.match(outcome.stdout, /^Usage: secops/);
      const files = urls.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u).slice(release.root.length + 1));
      assert.ok(files.includes('dist/cli/bundle/secops.js'), `the bundle did not run: ${files.join(', ')}`);
      // A command's own module is a chunk named after it (keys-….js); the entry's share is in chunk-….js;
      // the named group's definitions are keys.command-….js — and `secops --help` loads no definition at all.
      const group = args[0]?.startsWith('-') ? undefined : args[0];
      const definitions = files.filter((f) => /\.command-[A-Z0-9]+\.js$/.test(f));
      assert.deepEqual(
        definitions.map((f) => f.replace(/^dist\/cli\/bundle\/|-[A-Z0-9]+\.js$/g, '')),
        group ? [`${group}.command`] : [],
        'the definitions of the group the command line names, and no other',
      );
      const unexpected = files.filter(
        (f) =>
          !/^bin\/(secops|require-node)\.js$|^dist\/cli\/bundle\/(secops|chunk-[A-Z0-9]+)\.js$/.test(f) &&
          !definitions.includes(f),
      );
      assert.deepEqual(unexpected, [], 'loaded beyond the bundle entry, its shared chunks and the named group');
      assert.deepEqual(
        builtins.filter((b) => HEAVY_BUILTIN.test(b)),
        [],
        'a database, SDK, crypto or network module was loaded',
      );
    });
  }

  it('the recorder sees what a command that runs loads (it can fail): `secret generate` loads its chunk and node:crypto', async () => {
    const { outcome, urls, builtins } = await loadedBy(release.root, ['secret', 'generate', '--bytes', '32']);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.ok(
      urls.some((u) => /\/dist\/cli\/bundle\/secret-[A-Z0-9]+\.js$/.test(u)),
      'the command module chunk was not loaded',
    );
    assert.ok(
      builtins.some((b) => HEAVY_BUILTIN.test(b)),
      `no heavy builtin seen: ${builtins.join(' ')}`,
    );
  });

  it('an error class thrown in a chunk keeps its exit code in the entry (one CliError across chunks): bad production configuration exits 78', async () => {
    const outcome = await secops(release.root, ['migrate', 'status'], {
      env: { PATH: process.env.PATH, NODE_ENV: 'production' },
    });
    assert.equal(outcome.code, 78, outcome.stderr);
    assert.match(outcome.stderr, /invalid configuration/);
  });
});

/** Every command's argv for its --help, from the program the sources build. */
function helpArgvs(command: Command, prefix: string[] = []): string[][] {
  const own = [...prefix, '--help'];
  return [own, ...command.commands.flatMap((c) => helpArgvs(c, [...prefix, c.name()]))];
}

describe('help pages rendered by the build (dist/cli/bundle/help.json)', () => {
  it("holds every command's page, each the text the sources print for `secops <command…> --help`", async () => {
    const argvs = helpArgvs(await buildProgram(captureIo().io));
    const { pages } = JSON.parse(readFileSync(join(release.root, 'dist/cli/bundle/help.json'), 'utf8')) as {
      pages: Record<string, string>;
    };
    assert.deepEqual(Object.keys(pages).sort(), argvs.map((argv) => argv.slice(0, -1).join(' ')).sort());
    for (const argv of argvs) {
      const { io, stdout } = captureIo();
      assert.equal(await main(argv, io), 0);
      assert.equal(pages[argv.slice(0, -1).join(' ')], stdout(), `secops ${argv.join(' ')}`);
    }
  });

  for (const [args, same] of [
    [['--help'], ['--help']],
    [['-h'], ['--help']],
    [['help'], ['--help']],
    [
      ['keys', '--help'],
      ['keys', '--help'],
    ],
    [
      ['help', 'keys'],
      ['keys', '--help'],
    ],
    [
      ['db', 'roles', 'apply', '-h'],
      ['db', 'roles', 'apply', '--help'],
    ],
  ] as const) {
    it(`off a terminal, \`secops ${args.join(' ')}\` prints its page without loading the bundle or any builtin beyond node's own`, async () => {
      const { outcome, urls, builtins } = await loadedBy(release.root, [...args]);
      const { io, stdout } = captureIo();
      await main([...same], io);
      assert.deepEqual(outcome, { code: 0, stdout: stdout(), stderr: '' });
      const files = urls.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u).slice(release.root.length + 1));
      assert.deepEqual(files.sort(), ['bin/require-node.js', 'bin/secops.js']);
      assert.deepEqual(builtins, [], 'no builtin module was loaded');
    });
  }

  it("a command line that is not only a help request is commander's, from the bundle (an unknown command is still refused)", async () => {
    const { outcome, urls } = await loadedBy(release.root, ['no-such-group', '--help']);
    assert.ok(
      urls.some((u) => u.endsWith('/dist/cli/bundle/secops.js')),
      'commander did not answer',
    );
    const { io, stdout, stderr } = captureIo();
    const code = await main(['no-such-group', '--help'], io);
    assert.deepEqual(outcome, { code, stdout: stdout(), stderr: stderr() });
  });

  it("on a terminal, commander renders the help to the terminal's width (script(1) gives it a 130-column one)", async (t) => {
    try {
      await run('script', ['--version']);
    } catch {
      return t.skip('script(1) is not installed');
    }
    const { stdout } = await run(
      'script',
      ['-qec', `stty cols 130; ${process.execPath} ${join(release.root, 'bin/secops.js')} --help`, '/dev/null'],
      { cwd: release.root, env: { PATH: process.env.PATH }, timeout: 30_000 },
    );
    const page = JSON.parse(readFileSync(join(release.root, 'dist/cli/bundle/help.json'), 'utf8')).pages[''] as string;
    const onTerminal = stdout.replace(/\r\n/g, '\n');
    assert.match(onTerminal, /^Usage: secops \[options\] \[command\]/);
    assert.notEqual(onTerminal, page, 'the 80-column page was printed on a 130-column terminal');
    let wide = '';
    const { io } = captureIo();
    await main(['--help'], { ...io, stdout: { write: (s: string) => (wide += s), columns: () => 130 } });
    assert.equal(onTerminal, wide);
  });
});

describe('the bundle answers as the sources do', () => {
  it('`--help` of every command and group is the same text through the bundle as through the sources', async () => {
    const argvs = helpArgvs(await buildProgram(captureIo().io));
    assert.ok(argvs.length > 40, `only ${argvs.length} commands`);
    const script = `
      const { main } = await import(${JSON.stringify(join(release.root, 'dist/cli/bundle/secops.js'))});
      const results = [];
      for (const argv of ${JSON.stringify(argvs)}) {
        let out = '';
        const code = await main(argv, { stdout: { write: (s) => (out += s) }, stderr: { write: () => true }, env: {}, isTTY: false });
        results.push({ code, out });
      }
      process.stdout.write(JSON.stringify(results));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: release.root,
      timeout: 60_000,
      maxBuffer: 64 << 20,
    });
    const bundled = JSON.parse(stdout) as { code: number; out: string }[];
    for (const [i, argv] of argvs.entries()) {
      const { io, stdout: sourceOut } = captureIo();
      const code = await main(argv, io);
      assert.deepEqual(bundled[i], { code, out: sourceOut() }, `secops ${argv.join(' ')}`);
    }
  });
});

describe('bin/secops.js: the bundle, or the sources when the bundle is missing or stale', () => {
  /** A checkout-like tree: the release's dist/ (when `dist`), bin/, and the sources with their mtimes as built. */
  function checkout(options: { dist: boolean; nodeModules?: 'linked' | 'empty' }): string {
    const root = mkdtempSync(join(tmpdir(), 'rampart-secops-checkout-'));
    cpSync(join(release.root, 'bin'), join(root, 'bin'), { recursive: true });
    cpSync(join(release.root, 'package.json'), join(root, 'package.json'));
    if (options.dist) cpSync(join(release.root, 'dist'), join(root, 'dist'), { recursive: true });
    // Every source file and folder as old as the build's record: a checkout built after its last change.
    const built =
      JSON.parse(readFileSync(join(release.root, 'dist/cli/bundle/build-info.json'), 'utf8')).sources_read_at_ms / 1000;
    for (const source of ['cli/src', 'service/src', 'migrations']) {
      cpSync(join(ROOT, source), join(root, source), { recursive: true });
      for (const entry of readdirSync(join(root, source), { recursive: true, encoding: 'utf8' }))
        utimesSync(join(root, source, entry), built, built);
      utimesSync(join(root, source), built, built);
    }
    if ((options.nodeModules ?? 'linked') === 'linked')
      symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
    else mkdirSync(join(root, 'node_modules'));
    return root;
  }
  const trees: string[] = [];
  after(() => {
    for (const t of trees) rmSync(t, { recursive: true, force: true });
  });
  const tree = (options: Parameters<typeof checkout>[0]) => {
    const root = checkout(options);
    trees.push(root);
    return root;
  };

  it('runs the bundle, silently, when it is as new as the sources', async () => {
    const root = tree({ dist: true });
    const { outcome, urls } = await loadedBy(root, ['--json', '--help']);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.equal(outcome.stderr, '');
    assert.ok(urls.some((u) => u.endsWith('/dist/cli/bundle/secops.js')));
    assert.ok(!urls.some((u) => /\/node_modules\/tsx\//.test(u)), 'tsx was loaded');
  });

  it('a source changed after the build: says so on stderr, naming it, and runs the sources through tsx', async () => {
    const root = tree({ dist: true });
    const later = Date.now() / 1000 + 60;
    utimesSync(join(root, 'cli/src/commands/keys.command.ts'), later, later);
    const { outcome, urls } = await loadedBy(root, ['--help']);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.match(outcome.stdout, /^Usage: secops/);
    assert.match(
      outcome.stderr,
      /older than the sources \(cli\/src\/commands\/keys\.command\.ts changed since\): running the TypeScript sources through tsx/,
    );
    assert.ok(
      urls.some((u) => u.endsWith('/cli/src/main.ts')),
      'the sources did not run',
    );
    assert.ok(!urls.some((u) => u.includes('/dist/cli/bundle/')), 'the stale bundle ran');
  });

  it('a source file added after the build (its folder changed) makes the bundle stale too', async () => {
    const root = tree({ dist: true });
    const later = Date.now() / 1000 + 60;
    utimesSync(join(root, 'service/src'), later, later);
    const outcome = await secops(root, ['--help']);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.match(outcome.stderr, /older than the sources \(service\/src\/ changed since\)/);
  });

  it('no dist/: says so on stderr and runs the sources through tsx', async () => {
    const root = tree({ dist: false });
    const outcome = await secops(root, ['--help']);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.match(outcome.stdout, /^Usage: secops/);
    assert.match(outcome.stderr, /dist\/ holds no build of the CLI: running the TypeScript sources through tsx/);
  });

  it('no dist/ and no tsx to run the sources: exit 1, saying to build', async () => {
    const root = tree({ dist: false, nodeModules: 'empty' });
    const outcome = await secops(root, ['--help']);
    assert.equal(outcome.code, 1);
    assert.equal(outcome.stdout, '');
    assert.match(outcome.stderr, /tsx \(a development dependency\) is not installed to run the sources: run `npm run build`/);
  });

  it('a compile-cache folder it cannot use never fails the command', async () => {
    const root = tree({ dist: true });
    // TMPDIR under a file: the cache folder cannot be made.
    const blocked = await secops(root, ['--json', '--help'], {
      env: { PATH: process.env.PATH, TMPDIR: join(root, 'package.json') },
    });
    assert.equal(blocked.code, 0, blocked.stderr);
    assert.equal(blocked.stderr, '');
  });
});
