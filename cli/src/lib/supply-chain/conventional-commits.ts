/**
 * Conventional Commits (https://www.conventionalcommits.org/en/v1.0.0/) → a changelog section.
 * Breaking changes (`type!:` or a `BREAKING CHANGE:` footer) come first; anything that is not a
 * conventional commit of a known type goes under "Other", so nothing is silently dropped.
 */
export interface Commit {
  sha: string;
  subject: string;
  body: string;
}

export interface ParsedCommit {
  sha: string;
  type: string | null;
  scope: string | null;
  description: string;
  breaking: boolean;
  /** The text of a BREAKING CHANGE footer, when there is one. */
  breakingNote: string | null;
}

export const SECTIONS: readonly { title: string; types: readonly string[] }[] = [
  { title: 'Security', types: ['security', 'sec'] },
  { title: 'Features', types: ['feat', 'feature'] },
  { title: 'Bug fixes', types: ['fix', 'bugfix'] },
  { title: 'Performance', types: ['perf'] },
  { title: 'Reverts', types: ['revert'] },
  { title: 'Refactoring', types: ['refactor'] },
  { title: 'Documentation', types: ['docs'] },
  { title: 'Build and CI', types: ['build', 'ci', 'deps'] },
  { title: 'Tests', types: ['test', 'tests'] },
  { title: 'Chores', types: ['chore', 'style'] },
];

const HEADER = /^(?<type>[A-Za-z]+)(?:\((?<scope>[^()\r\n]*)\))?(?<bang>!)?: (?<description>\S.*)$/;
const BREAKING_FOOTER = /^BREAKING[ -]CHANGE: ?([\s\S]*?)(?=\n[\w-]+(?:: | #)|$)/m;

export function parseCommit(commit: Commit): ParsedCommit {
  const m = HEADER.exec(commit.subject.trim());
  const footer = BREAKING_FOOTER.exec(commit.body);
  const breakingNote = footer ? footer[1]!.trim() || null : null;
  if (!m?.groups)
    return {
      sha: commit.sha,
      type: null,
      scope: null,
      description: commit.subject.trim(),
      breaking: footer !== null,
      breakingNote,
    };
  return {
    sha: commit.sha,
    type: m.groups.type!.toLowerCase(),
    scope: m.groups.scope?.trim() || null,
    description: m.groups.description!.trim(),
    breaking: m.groups.bang === '!' || footer !== null,
    breakingNote,
  };
}

export interface ReleaseNotes {
  version: string;
  date: string;
  sections: { title: string; entries: ParsedCommit[] }[];
}

export function groupCommits(commits: readonly Commit[], version: string, date: string): ReleaseNotes {
  const parsed = commits.map(parseCommit);
  const known = new Map(SECTIONS.flatMap((s) => s.types.map((t) => [t, s.title] as const)));
  const sections: ReleaseNotes['sections'] = [{ title: 'Breaking changes', entries: parsed.filter((c) => c.breaking) }];
  for (const s of SECTIONS)
    sections.push({
      title: s.title,
      entries: parsed.filter((c) => !c.breaking && c.type !== null && known.get(c.type) === s.title),
    });
  sections.push({ title: 'Other', entries: parsed.filter((c) => !c.breaking && (c.type === null || !known.has(c.type))) });
  return { version, date, sections: sections.filter((s) => s.entries.length > 0) };
}

export function renderMarkdown(notes: ReleaseNotes): string {
  const lines = [`## ${notes.version} (${notes.date})`, ''];
  if (notes.sections.length === 0) lines.push('No changes.', '');
  for (const section of notes.sections) {
    lines.push(`### ${section.title === 'Breaking changes' ? '⚠ Breaking changes' : section.title}`, '');
    for (const c of section.entries) {
      const scope = c.scope ? `**${c.scope}:** ` : '';
      // In "Other", non-conventional subjects are shown as written; elsewhere the type is the heading.
      const text = c.type !== null && section.title === 'Other' ? `${c.type}: ${c.description}` : c.description;
      lines.push(`- ${scope}${text} (${c.sha.slice(0, 7)})`);
      if (c.breakingNote) lines.push(`  ${c.breakingNote.replace(/\n+/g, ' ')}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
