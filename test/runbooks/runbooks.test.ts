import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNBOOKS = join(ROOT, 'runbooks');
const runbooks = readdirSync(RUNBOOKS).filter((f) => f.endsWith('.md'));

const alertNames = new Set(
  readdirSync(join(ROOT, 'alerts'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      (parse(readFileSync(join(ROOT, 'alerts', f), 'utf8')) as { groups: { rules: { alert?: string }[] }[] }).groups.flatMap(
        (g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])),
      ),
    ),
);

/** Fenced code blocks and inline code spans: where a runbook shows commands to type. */
function codeOf(markdown: string): string[] {
  const fenced = [...markdown.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1] ?? '');
  const prose = markdown.replace(/^```[^\n]*\n[\s\S]*?^```/gm, '');
  const inline = [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1] ?? '');
  return [...fenced, ...inline];
}

const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--database-url']);

/** The words after `secops` up to the first option or argument-looking token, global options skipped. */
export function secopsCommandPaths(code: string): string[][] {
  const paths: string[][] = [];
  for (const match of code.matchAll(/(?:^|[\s;|&(`$])secops((?:[ \t]+[^\s;|&)`#]+)*)/gm)) {
    const tokens = (match[1] ?? '')
      .trim()
      .split(/[ \t]+/)
      .filter(Boolean);
    const path: string[] = [];
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i] as string;
      if (path.length === 0 && token === '--json') continue;
      if (path.length === 0 && GLOBAL_OPTIONS_WITH_VALUE.has(token)) {
        i++;
        continue;
      }
      if (!/^[a-z][a-z0-9_-]*$/.test(token)) break;
      path.push(token);
    }
    if (path.length > 0) paths.push(path);
  }
  return paths;
}

const run = promisify(execFile);
const helpCache = new Map<string, Promise<void>>();

/**
 * `secops <path> --help` must exit 0 and print the usage of exactly that command. Commander prints the
 * parent's help (still exit 0) for an unknown subcommand, so the usage line is what proves the path;
 * trailing words are accepted only as the positional arguments of a leaf command.
 */
function assertCommandExists(path: string[]): Promise<void> {
  const key = path.join(' ');
  let pending = helpCache.get(key);
  if (!pending) {
    pending = (async () => {
      const { stdout } = await run(process.execPath, ['bin/secops.js', ...path, '--help'], { cwd: ROOT, timeout: 30_000 });
      const usage = /^Usage: secops(.*)$/m.exec(stdout)?.[1] ?? '';
      const resolved = usage
        .trim()
        .split(/\s+/)
        .filter((w) => /^[a-z][a-z0-9-]*$/.test(w));
      assert.deepEqual(
        path.slice(0, resolved.length),
        resolved,
        `secops ${key}: help resolved to "secops ${resolved.join(' ')}"`,
      );
      if (resolved.length < path.length) {
        const takesArguments = /<[^>]+>|\[(?!options\]|command\])[^\]]+\]/.test(usage);
        assert.ok(
          !usage.includes('[command]') && takesArguments,
          `secops ${key}: "${path.slice(resolved.length).join(' ')}" is not a subcommand of "secops ${resolved.join(' ')}"`,
        );
      }
    })();
    helpCache.set(key, pending);
  }
  return pending;
}

describe('runbooks', () => {
  it('the index lists every runbook', () => {
    const index = readFileSync(join(RUNBOOKS, 'README.md'), 'utf8');
    for (const file of runbooks.filter((f) => f !== 'README.md')) {
      assert.ok(index.includes(`(${file})`), `runbooks/README.md does not link ${file}`);
    }
  });

  for (const file of runbooks) {
    const markdown = readFileSync(join(RUNBOOKS, file), 'utf8');

    it(`${file}: every secops command shown exists (\`secops <command> --help\` exits 0)`, async () => {
      const paths = codeOf(markdown).flatMap(secopsCommandPaths);
      await Promise.all(paths.map(assertCommandExists));
    });

    it(`${file}: every alert it names exists in the rules`, () => {
      const named = new Set([...markdown.matchAll(/\bRampart[A-Z][A-Za-z0-9]*\b/g)].map((m) => m[0]));
      const unknown = [...named].filter((name) => !alertNames.has(name));
      assert.deepEqual(unknown, [], `unknown alerts named in ${file}`);
    });

    it(`${file}: every relative link resolves to a file`, () => {
      const broken: string[] = [];
      for (const [, found] of markdown.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = found ?? '';
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
        const path = decodeURIComponent(target.split('#')[0] ?? '');
        if (!existsSync(join(dirname(join(RUNBOOKS, file)), path))) broken.push(target);
      }
      assert.deepEqual(broken, [], `broken links in ${file}`);
    });
  }
});

describe('secopsCommandPaths', () => {
  it('stops at the first option or argument and skips global options', () => {
    assert.deepEqual(secopsCommandPaths('secops --json migrate status | jq .modified'), [['migrate', 'status']]);
    assert.deepEqual(secopsCommandPaths('secops backup drill --from $BACKUP_DIR/<id> --max-age 30d'), [['backup', 'drill']]);
    assert.deepEqual(secopsCommandPaths('secops migrate make <name>'), [['migrate', 'make']]);
    assert.deepEqual(secopsCommandPaths('npx secops …'), []);
  });

  it('a made-up subcommand is refused even though commander exits 0 on --help', async () => {
    await assert.rejects(assertCommandExists(['migrate', 'frobnicate']), /not a subcommand/);
  });
});
