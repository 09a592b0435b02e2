/**
 * docs/asvs.md, generated from the OWASP ASVS 5.0.0 Level 1 + 2 requirements (docs/asvs/asvs-5.0.0-l1l2.csv)
 * and Rampart's mapping of each one (docs/asvs/map.yaml), and checked against the tests it names:
 *
 *   node --import tsx scripts/asvs.ts           check: exit 1 and list every problem (test/docs/asvs.test.ts runs it)
 *   node --import tsx scripts/asvs.ts --write   rewrite docs/asvs.md from the CSV and the map (npm run docs:asvs)
 *
 * The check fails when a requirement of the CSV is missing from the map or the map names an unknown id,
 * an entry is malformed (a `met` without a proof, a `partial`/`not-met` without a reason and a plan, an
 * `n/a` without a reason), a proof's file does not exist or has no it/test/describe with exactly that name
 * (a nested one may be named "describe > it"), or docs/asvs.md is not what --write would write now.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const ASVS_CSV = join(ROOT, 'docs/asvs/asvs-5.0.0-l1l2.csv');
export const ASVS_MAP = join(ROOT, 'docs/asvs/map.yaml');
export const ASVS_DOC = join(ROOT, 'docs/asvs.md');

export interface Requirement {
  chapterId: string;
  chapterName: string;
  sectionId: string;
  sectionName: string;
  id: string;
  text: string;
  level: 1 | 2;
}

export type Status = 'met' | 'partial' | 'not-met' | 'n/a';
const STATUSES: readonly Status[] = ['met', 'partial', 'not-met', 'n/a'];

export interface Proof {
  file: string;
  test: string;
}

export interface MapEntry {
  status: Status;
  note?: string;
  proofs?: Proof[];
  reason?: string;
  plan?: string;
}

// ---- CSV ------------------------------------------------------------------------------------------

/** RFC 4180 fields (quotes, doubled quotes, commas and newlines inside quotes); lines starting with # before the header are comments. */
export function parseCsv(text: string): string[][] {
  const body = text
    .split('\n')
    .filter((line, i, all) => !(line.startsWith('#') && all.slice(0, i).every((l) => l.startsWith('#'))))
    .join('\n');
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && body[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => r.length > 1 || r[0] !== '');
}

export function readRequirements(path = ASVS_CSV): Requirement[] {
  const [header = [], ...rows] = parseCsv(readFileSync(path, 'utf8'));
  const expected = ['chapter_id', 'chapter_name', 'section_id', 'section_name', 'req_id', 'req_description', 'L'];
  if (header.join() !== expected.join()) throw new Error(`${path}: header is ${header.join()}, expected ${expected.join()}`);
  return rows.map((r) => {
    const [chapterId = '', chapterName = '', sectionId = '', sectionName = '', id = '', text = '', level = ''] = r;
    if (r.length !== 7 || (level !== '1' && level !== '2')) throw new Error(`${path}: malformed row ${r.join()}`);
    return { chapterId, chapterName, sectionId, sectionName, id, text, level: Number(level) as 1 | 2 };
  });
}

export function readMap(path = ASVS_MAP): Record<string, MapEntry> {
  const data = parseYaml(readFileSync(path, 'utf8')) as unknown;
  if (!data || typeof data !== 'object' || Array.isArray(data)) throw new Error(`${path}: expected a mapping of requirement ids`);
  return data as Record<string, MapEntry>;
}

// ---- test names -------------------------------------------------------------------------------------

/**
 * The names of the it/test/describe calls of a test file: each leaf name, and for a nested call also its
 * path "outer describe > … > name". The suite is formatted by Biome (the name opens on the call's line,
 * a describe's body closes at its own indentation), which is what the nesting relies on. A template
 * literal's name is kept as written, `${…}` included.
 */
export function testNames(source: string): Set<string> {
  const names = new Set<string>();
  const stack: { indent: number; name: string }[] = [];
  const call = /^(\s*)(describe|it|test|suite)(?:\.(?:only|skip|todo))?\(\s*(['"`])/;
  for (const line of source.split('\n')) {
    const m = call.exec(line);
    if (!m) continue;
    const indent = (m[1] ?? '').length;
    while ((stack.at(-1)?.indent ?? -1) >= indent) stack.pop();
    const name = readStringLiteral(line, m[0].length - 1);
    if (name === undefined) continue;
    names.add(name);
    const path = [...stack.map((s) => s.name), name].join(' > ');
    names.add(path);
    if (m[2] === 'describe' || m[2] === 'suite') stack.push({ indent, name });
  }
  return names;
}

function readStringLiteral(line: string, start: number): string | undefined {
  const quote = line[start];
  let out = '';
  for (let i = start + 1; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') {
      const next = line[i + 1];
      out += next === 'n' ? '\n' : next === 't' ? '\t' : next;
      i++;
    } else if (c === quote) return out;
    else out += c;
  }
  return undefined;
}

// ---- the check ----------------------------------------------------------------------------------------

export interface CheckInput {
  requirements: Requirement[];
  map: Record<string, MapEntry>;
  /** Where proof files are looked up (the repository root). */
  root: string;
  /** The current docs/asvs.md, when it is checked too. */
  doc?: string;
}

export function checkMap({ requirements, map, root, doc }: CheckInput): string[] {
  const problems: string[] = [];
  const ids = new Set(requirements.map((r) => r.id));
  for (const r of requirements) if (!(r.id in map)) problems.push(`${r.id}: missing from the map`);
  for (const id of Object.keys(map)) if (!ids.has(id)) problems.push(`${id}: not an ASVS 5.0.0 L1/L2 requirement`);
  const cache = new Map<string, Set<string> | undefined>();
  const namesOf = (file: string) => {
    if (!cache.has(file)) {
      const path = join(root, file);
      cache.set(file, existsSync(path) ? testNames(readFileSync(path, 'utf8')) : undefined);
    }
    return cache.get(file);
  };
  for (const [id, entry] of Object.entries(map)) {
    if (!entry || typeof entry !== 'object') {
      problems.push(`${id}: not a mapping`);
      continue;
    }
    if (!STATUSES.includes(entry.status)) {
      problems.push(`${id}: status must be one of ${STATUSES.join(', ')}, not ${String(entry.status)}`);
      continue;
    }
    const text = (v: unknown) => typeof v === 'string' && v.trim().length > 0;
    if (entry.status === 'met') {
      if (!text(entry.note)) problems.push(`${id}: a met requirement needs a note saying how it is met`);
      if (!Array.isArray(entry.proofs) || entry.proofs.length === 0)
        problems.push(`${id}: a met requirement needs at least one proof (a claim without a test is not met)`);
      for (const proof of entry.proofs ?? []) {
        if (!proof || !text(proof.file) || !text(proof.test)) {
          problems.push(`${id}: a proof needs a file and a test name`);
          continue;
        }
        if (!/^test\/.+\.test\.ts$/.test(proof.file))
          problems.push(`${id}: proof file ${proof.file} is not a test file under test/`);
        const names = namesOf(proof.file);
        if (!names) problems.push(`${id}: proof file ${proof.file} does not exist`);
        else if (!names.has(proof.test)) problems.push(`${id}: ${proof.file} has no test named "${proof.test}"`);
      }
    } else {
      if (entry.proofs?.length) problems.push(`${id}: only a met requirement lists proofs (${entry.status})`);
      if (!text(entry.reason)) problems.push(`${id}: ${entry.status} needs a reason`);
      if (entry.status !== 'n/a' && !text(entry.plan)) problems.push(`${id}: ${entry.status} needs a plan`);
    }
  }
  if (doc !== undefined && problems.length === 0 && doc !== renderDoc(requirements, map)) {
    problems.push('docs/asvs.md differs from what the map gives: run `node --import tsx scripts/asvs.ts --write`');
  }
  return problems;
}

// ---- the document -----------------------------------------------------------------------------------------

interface Tally {
  applicable: number;
  met: number;
  partial: number;
  notMet: number;
  na: number;
}

function tally(requirements: Requirement[], map: Record<string, MapEntry>): Tally {
  const t: Tally = { applicable: 0, met: 0, partial: 0, notMet: 0, na: 0 };
  for (const r of requirements) {
    const s = map[r.id]?.status;
    if (s === 'n/a') t.na++;
    else {
      t.applicable++;
      if (s === 'met') t.met++;
      else if (s === 'partial') t.partial++;
      else t.notMet++;
    }
  }
  return t;
}

const percent = (t: Tally) => (t.applicable === 0 ? '—' : `${((100 * t.met) / t.applicable).toFixed(1)} %`);

export interface Figures {
  l1: Tally;
  l2: Tally;
  both: Tally;
}

export function figures(requirements: Requirement[], map: Record<string, MapEntry>): Figures {
  return {
    l1: tally(
      requirements.filter((r) => r.level === 1),
      map,
    ),
    l2: tally(
      requirements.filter((r) => r.level === 2),
      map,
    ),
    both: tally(requirements, map),
  };
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');

const LABEL: Record<Status, string> = { met: '✅ met', partial: '🟡 partial', 'not-met': '❌ not met', 'n/a': '➖ n/a' };

/** A requirement's heading, and its anchor as GitHub makes it (lower case; punctuation and emoji dropped; spaces → "-"). */
const headingOf = (r: Requirement, e: MapEntry | undefined) => `${r.id} (L${r.level}) — ${e ? LABEL[e.status] : 'unmapped'}`;
const anchorOf = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

export function renderDoc(requirements: Requirement[], map: Record<string, MapEntry>): string {
  const chapters = [...new Map(requirements.map((r) => [r.chapterId, r.chapterName])).entries()];
  const f = figures(requirements, map);
  const lines = [
    '# OWASP ASVS 5.0.0 — Level 1 and Level 2, requirement by requirement',
    '',
    '<!-- Generated by `node --import tsx scripts/asvs.ts --write` from docs/asvs/asvs-5.0.0-l1l2.csv and docs/asvs/map.yaml; edit the map, not this file. -->',
    '',
    'Every Level 1 and Level 2 requirement of the [OWASP Application Security Verification Standard 5.0.0](https://github.com/OWASP/ASVS/tree/v5.0.0_release)',
    '(requirement texts © OWASP Foundation, CC BY-SA 4.0), with its status for Rampart. A requirement is **met** only when a',
    'test of this repository would fail if the behaviour broke: each met one names the test file and the exact test name.',
    '`test/docs/asvs.test.ts` (part of `npm test`) fails when a named test is renamed or deleted, when a requirement is',
    'missing from the map, or when this page is not what the generator writes. **partial**: part of it is implemented or',
    'proven, the rest is listed with the plan; **not met**: with the reason and the plan; **n/a**: does not apply to',
    'Rampart (a JSON API and an operator CLI: no browser UI, no file uploads, no OAuth/OIDC server or client, no',
    'GraphQL, no WebSockets, no XML), with the reason. The percentage is met ÷ applicable (n/a excluded).',
    '',
    'To change a status or a proof, edit `docs/asvs/map.yaml` and run `npm run docs:asvs`',
    '(`node --import tsx scripts/asvs.ts --write`); `node --import tsx scripts/asvs.ts` checks without writing. The',
    'inventories and decisions ASVS asks to be documented (key policy, cryptographic inventory, data classification,',
    'logging inventory, connections, session lifetimes) are in [security.md](security.md).',
    '',
    '## Summary',
    '',
    '| scope | requirements | applicable | met | partial | not met | n/a | % met |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const row = (label: string, t: Tally) =>
    `| ${label} | ${t.applicable + t.na} | ${t.applicable} | ${t.met} | ${t.partial} | ${t.notMet} | ${t.na} | ${percent(t)} |`;
  lines.push(row('L1 requirements', f.l1), row('L2 requirements (level 2 only)', f.l2), row('Level 2 (L1 + L2)', f.both), '');
  for (const [label, level] of [
    ['L1 requirements', 1],
    ['L2 requirements (level 2 only)', 2],
    ['Level 2 (L1 + L2)', 0],
  ] as const) {
    lines.push(
      `### By chapter: ${label}`,
      '',
      '| chapter | applicable | met | partial | not met | n/a | % met |',
      '|---|---|---|---|---|---|---|',
    );
    for (const [id, name] of chapters) {
      const t = tally(
        requirements.filter((r) => r.chapterId === id && (level === 0 || r.level === level)),
        map,
      );
      lines.push(`| ${id} ${name} | ${t.applicable} | ${t.met} | ${t.partial} | ${t.notMet} | ${t.na} | ${percent(t)} |`);
    }
    lines.push('');
  }
  const open = requirements.filter((r) => map[r.id]?.status === 'partial' || map[r.id]?.status === 'not-met');
  lines.push('## What remains: partial and not met', '');
  if (open.length === 0) lines.push('Nothing: every applicable requirement is met.', '');
  else {
    lines.push('| requirement | level | status | why | plan |', '|---|---|---|---|---|');
    for (const r of open) {
      const e = map[r.id] as MapEntry;
      lines.push(
        `| [${r.id}](#${anchorOf(headingOf(r, e))}) | L${r.level} | ${e.status === 'partial' ? 'partial' : 'not met'} | ${cell(e.reason ?? '')} | ${cell(e.plan ?? '')} |`,
      );
    }
    lines.push('');
  }
  let section = '';
  let chapter = '';
  for (const r of requirements) {
    if (r.chapterId !== chapter) {
      chapter = r.chapterId;
      lines.push(`## ${r.chapterId} ${r.chapterName}`, '');
    }
    if (r.sectionId !== section) {
      section = r.sectionId;
      lines.push(`### ${r.sectionId} ${r.sectionName}`, '');
    }
    const e = map[r.id];
    lines.push(`#### ${headingOf(r, e)}`, '', `> ${cell(r.text)}`, '');
    if (!e) continue;
    if (e.status === 'met') {
      lines.push(cell(e.note ?? ''), '');
      for (const p of e.proofs ?? []) lines.push(`- proof: \`${p.file}\` — “${cell(p.test)}”`);
      lines.push('');
    } else {
      lines.push(`${e.status === 'n/a' ? 'Not applicable' : 'Why'}: ${cell(e.reason ?? '')}`, '');
      if (e.plan) lines.push(`Plan: ${cell(e.plan)}`, '');
    }
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

// ---- command line --------------------------------------------------------------------------------------------

export function runCheck(): string[] {
  const requirements = readRequirements();
  const map = readMap();
  return checkMap({ requirements, map, root: ROOT, doc: existsSync(ASVS_DOC) ? readFileSync(ASVS_DOC, 'utf8') : '' });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const requirements = readRequirements();
  const map = readMap();
  const f = figures(requirements, map);
  const say = (label: string, t: Tally) =>
    `${label}: ${t.met}/${t.applicable} met (${percent(t)}), ${t.partial} partial, ${t.notMet} not met, ${t.na} n/a`;
  if (process.argv.includes('--write')) {
    const problems = checkMap({ requirements, map, root: ROOT });
    writeFileSync(ASVS_DOC, renderDoc(requirements, map));
    console.log(`wrote ${relative(process.cwd(), ASVS_DOC) || ASVS_DOC}`);
    for (const p of problems) console.error(`problem: ${p}`);
    process.exitCode = problems.length ? 1 : 0;
  } else {
    const problems = runCheck();
    for (const p of problems) console.error(`problem: ${p}`);
    process.exitCode = problems.length ? 1 : 0;
    if (!problems.length) console.log('docs/asvs.md and docs/asvs/map.yaml agree with the tests');
  }
  console.log([say('L1', f.l1), say('L2 (level 2 only)', f.l2), say('Level 2 (L1 + L2)', f.both)].join('\n'));
}
