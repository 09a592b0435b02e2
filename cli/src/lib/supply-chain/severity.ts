/** Advisory severities in gate order; `unknown` ranks above critical so an unrated advisory fails closed. */
export const SEVERITIES = ['low', 'moderate', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export type AdvisorySeverity = Severity | 'unknown';

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

export function severityRank(s: AdvisorySeverity): number {
  return s === 'unknown' ? SEVERITIES.length : SEVERITIES.indexOf(s);
}

/** GitHub/npm words (LOW, MODERATE, MEDIUM, HIGH, CRITICAL, info) → our scale; undefined otherwise. */
export function normalizeSeverityWord(word: unknown): Severity | undefined {
  if (typeof word !== 'string') return undefined;
  const w = word.trim().toLowerCase();
  if (w === 'medium') return 'moderate';
  if (w === 'info') return 'low';
  return isSeverity(w) ? w : undefined;
}

const WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

/** CVSS v3.x base score from a vector (https://www.first.org/cvss/v3.1/specification-document §7.1). */
export function cvss3BaseScore(vector: string): number | undefined {
  const m = Object.fromEntries(
    vector
      .split('/')
      .slice(1)
      .map((part) => part.split(':') as [string, string]),
  ) as Record<string, string | undefined>;
  if (!/^CVSS:3\.[01]$/.test(vector.split('/')[0] ?? '')) return undefined;
  const pick = <T extends Record<string, number>>(table: T, key: string | undefined) =>
    key !== undefined && key in table ? table[key as keyof T] : undefined;
  const changed = m.S === 'C';
  if (m.S !== 'C' && m.S !== 'U') return undefined;
  const av = pick(WEIGHTS.AV, m.AV);
  const ac = pick(WEIGHTS.AC, m.AC);
  const ui = pick(WEIGHTS.UI, m.UI);
  const pr = pick(changed ? { N: 0.85, L: 0.68, H: 0.5 } : { N: 0.85, L: 0.62, H: 0.27 }, m.PR);
  const c = pick(WEIGHTS.CIA, m.C);
  const i = pick(WEIGHTS.CIA, m.I);
  const a = pick(WEIGHTS.CIA, m.A);
  if ([av, ac, ui, pr, c, i, a].some((x) => x === undefined)) return undefined;
  const iss = 1 - (1 - c!) * (1 - i!) * (1 - a!);
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  if (impact <= 0) return 0;
  const exploitability = 8.22 * av! * ac! * pr! * ui!;
  return roundUp(Math.min((changed ? 1.08 : 1) * (impact + exploitability), 10));
}

/** The specification's Roundup (Appendix A), immune to floating-point noise. */
function roundUp(x: number): number {
  const int = Math.round(x * 100_000);
  return int % 10_000 === 0 ? int / 100_000 : (Math.floor(int / 10_000) + 1) / 10;
}

export function severityFromScore(score: number): Severity | undefined {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'moderate';
  if (score > 0) return 'low';
  return undefined;
}
