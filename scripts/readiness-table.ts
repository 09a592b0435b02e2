/**
 * The checklist table of docs/readiness.md, generated from the one table `secops readiness` runs
 * (cli/src/lib/readiness/checklist.ts) and the tiers of its checks (registry.ts), and the comparison of
 * that table with docs/checklist.md (the seed checklist's text):
 *
 *   node --import tsx scripts/readiness-table.ts           check: exit 1 and list every problem (test/cli/readiness-checklist.test.ts runs it)
 *   node --import tsx scripts/readiness-table.ts --write   rewrite the table between the markers of docs/readiness.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHECKLIST, type ChecklistItem } from '../cli/src/lib/readiness/checklist.js';
import { tierOf } from '../cli/src/lib/readiness/registry.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CHECKLIST_DOC = join(ROOT, 'docs/checklist.md');
export const READINESS_DOC = join(ROOT, 'docs/readiness.md');
export const START = '<!-- readiness-table:start (scripts/readiness-table.ts --write) -->';
export const END = '<!-- readiness-table:end -->';

export interface SeedItem {
  section: string;
  text: string;
}

/** The items of the seed checklist's Markdown: `## <section>` headings and `- [ ] <text>` lines. */
export function parseChecklist(markdown: string): SeedItem[] {
  const items: SeedItem[] = [];
  let section = '';
  for (const line of markdown.split('\n')) {
    const heading = /^##\s+(.+?)\s*$/.exec(line);
    if (heading) section = heading[1] as string;
    const item = /^- \[[ x~]\] (.+?)\s*$/.exec(line);
    if (item) items.push({ section, text: item[1] as string });
  }
  return items;
}

/** Every difference between the checklist's items and the table's, in order; empty when they agree. */
export function compareWithChecklist(seed: readonly SeedItem[], table: readonly ChecklistItem[]): string[] {
  const problems: string[] = [];
  const key = (section: string, text: string) => `${section} / ${text}`;
  const inTable = new Set(table.map((i) => key(i.section, i.text)));
  const inSeed = new Set(seed.map((i) => key(i.section, i.text)));
  for (const s of seed)
    if (!inTable.has(key(s.section, s.text))) problems.push(`missing from the table: "${s.text}" (${s.section})`);
  for (const t of table)
    if (!inSeed.has(key(t.section, t.text))) problems.push(`not in docs/checklist.md: ${t.id} "${t.text}" (${t.section})`);
  if (problems.length === 0)
    seed.forEach((s, i) => {
      const t = table[i];
      if (t && (t.text !== s.text || t.section !== s.section))
        problems.push(`order: item ${i + 1} is "${s.text}" in docs/checklist.md, ${t.id} in the table`);
    });
  if (seed.length !== table.length) problems.push(`docs/checklist.md has ${seed.length} items, the table ${table.length}`);
  return problems;
}

const code = (id: string) => `\`${id}\``;

function proofCell(item: ChecklistItem): string {
  if (item.proof.kind === 'manual') return `manual: ${item.proof.reason}`;
  const tiers = (ids: readonly string[]) => [...new Set(ids.map((id) => tierOf(id)?.name ?? '?'))].join(', ');
  const alternatives = item.proof.any.map((alt) => `${alt.map(code).join(' + ')} (${tiers(alt)})`).join(' **or** ');
  const also =
    item.proof.also.length > 0
      ? `; also, a failure fails it: ${item.proof.also.map(code).join(', ')} (${tiers(item.proof.also)})`
      : '';
  return `${alternatives}${also}`;
}

export function renderTable(items: readonly ChecklistItem[] = CHECKLIST): string {
  const lines = ['| # | id | item | proven by (tier) |', '|---|---|---|---|'];
  items.forEach((item, i) => {
    lines.push(`| ${i + 1} | ${code(item.id)} | ${item.text.replace(/\|/g, '\\|')} | ${proofCell(item).replace(/\|/g, '\\|')} |`);
  });
  const manual = items.filter((i) => i.proof.kind === 'manual').length;
  lines.push('', `${items.length} items: ${items.length - manual} proven by checks, ${manual} manual by nature.`);
  return lines.join('\n');
}

/** The page with its table replaced by `table`; throws when the markers are missing. */
export function withTable(page: string, table: string): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`docs/readiness.md lacks the markers ${START} … ${END}`);
  return `${page.slice(0, start + START.length)}\n${table}\n${page.slice(end)}`;
}

export function runCheck(): string[] {
  const problems = compareWithChecklist(parseChecklist(readFileSync(CHECKLIST_DOC, 'utf8')), CHECKLIST);
  const page = readFileSync(READINESS_DOC, 'utf8');
  if (withTable(page, renderTable()) !== page)
    problems.push('docs/readiness.md: the table is stale (node --import tsx scripts/readiness-table.ts --write)');
  return problems;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--write')) {
    writeFileSync(READINESS_DOC, withTable(readFileSync(READINESS_DOC, 'utf8'), renderTable()));
    console.log('wrote docs/readiness.md');
  }
  const problems = runCheck();
  for (const p of problems) console.error(`problem: ${p}`);
  process.exitCode = problems.length ? 1 : 0;
}
