import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CliContext } from '../lib/context.js';
import { CliError } from '../lib/errors.js';
import { createReporter } from '../lib/output.js';
import { type Commit, groupCommits, type ReleaseNotes, renderMarkdown } from '../lib/supply-chain/conventional-commits.js';
import { runFile } from '../lib/supply-chain/exec.js';

/** `secops release notes`: a changelog section from the conventional commits since the last tag. */
export interface ReleaseNotesOptions {
  from?: string;
  to?: string;
  version?: string;
  /** Repository root; default: the working directory. */
  cwd?: string;
}

export interface ReleaseNotesResult extends ReleaseNotes {
  from: string | null;
  to: string;
  markdown: string;
}

const FIELD = '\x1f';
const RECORD = '\x1e';

async function git(cwd: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await runFile('git', args, { cwd, timeoutMs: 30_000 });
  if (r.spawnError) throw new CliError(`cannot run git: ${r.spawnError.message}`);
  return { ok: r.code === 0, stdout: r.stdout, stderr: r.stderr };
}

export async function run(options: ReleaseNotesOptions, ctx: CliContext): Promise<ReleaseNotesResult> {
  const out = createReporter(ctx);
  const cwd = options.cwd ?? process.cwd();
  const to = options.to ?? 'HEAD';
  const target = await git(cwd, ['rev-parse', '--verify', '--quiet', `${to}^{commit}`]);
  if (!target.ok) throw new CliError(`--to ${to} is not a commit in ${cwd}`);

  let from = options.from ?? null;
  if (from === null) {
    // The latest tag reachable from --to; with no tag at all, the notes cover the whole history.
    const tag = await git(cwd, ['describe', '--tags', '--abbrev=0', to]);
    from = tag.ok ? tag.stdout.trim() : null;
  } else if (!(await git(cwd, ['rev-parse', '--verify', '--quiet', `${from}^{commit}`])).ok) {
    throw new CliError(`--from ${from} is not a tag or commit`);
  }

  const range = from ? `${from}..${to}` : to;
  const log = await git(cwd, ['log', '--no-merges', `--format=%H${FIELD}%s${FIELD}%b${RECORD}`, range, '--']);
  if (!log.ok) throw new CliError(`git log ${range} failed: ${log.stderr.trim()}`);
  const commits: Commit[] = log.stdout
    .split(RECORD)
    .map((r) => r.replace(/^\n/, ''))
    .filter((r) => r.trim() !== '')
    .map((r) => {
      const [sha = '', subject = '', body = ''] = r.split(FIELD);
      return { sha, subject, body: body.trim() };
    });

  const date = (await git(cwd, ['log', '-1', '--format=%cs', to])).stdout.trim();
  const version = options.version ?? readVersion(cwd);
  const notes = groupCommits(commits, version, date);
  const markdown = renderMarkdown(notes);
  const result: ReleaseNotesResult = { ...notes, from, to, markdown };
  out.json(result);
  // The notes are the output: plain markdown on stdout, ready for `>> CHANGELOG.md`.
  if (!ctx.json) ctx.stdout.write(markdown);
  if (commits.length === 0) out.warn(`no commits in ${range}`);
  return result;
}

function readVersion(cwd: string): string {
  try {
    return (JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as { version?: string }).version ?? 'Unreleased';
  } catch {
    return 'Unreleased';
  }
}
