import type { InstalledPackage } from './installed.js';

/**
 * Licence policy: an SPDX allow-list, per-package exceptions and banned packages
 * (`.secops/licenses.json`). Every installed production package must pass.
 */
export interface LicensePolicy {
  allow: string[];
  exceptions: { package: string; license: string; reason: string }[];
  banned: { package: string; reason: string }[];
}

export type LicenseVerdict =
  | { ok: true; license: string; via: 'allow-list' | 'exception'; reason?: string }
  | { ok: false; license: string | null; problem: 'missing' | 'unparsable' | 'not-allowed' };

/** The declared licence as one SPDX expression string, or null when none is declared. */
export function declaredLicense(pkg: Pick<InstalledPackage, 'license' | 'licenses'>): string | null {
  const typeOf = (v: unknown): string | null => {
    if (typeof v === 'string') return v.trim() || null;
    if (v && typeof v === 'object' && typeof (v as { type?: unknown }).type === 'string')
      return (v as { type: string }).type.trim() || null;
    return null;
  };
  const single = typeOf(pkg.license);
  if (single) return single;
  // Legacy `licenses: [{ type, url }, …]` meant "any of these" (npm docs: write it as `A OR B`).
  if (Array.isArray(pkg.licenses)) {
    const types = pkg.licenses.map(typeOf).filter((t): t is string => t !== null);
    if (types.length === 1) return types[0]!;
    if (types.length > 1) return types.map((t) => (/\s/.test(t) ? `(${t})` : t)).join(' OR ');
  }
  return null;
}

type Expr = { kind: 'id'; id: string } | { kind: 'and'; left: Expr; right: Expr } | { kind: 'or'; left: Expr; right: Expr };

/**
 * A small SPDX license-expression parser (https://spdx.github.io/spdx-spec/v2.3/SPDX-license-expressions/):
 * AND binds tighter than OR; parentheses; `id WITH exception`; a trailing `+`. Returns null when the
 * text is not an expression (e.g. "SEE LICENSE IN LICENSE.txt", "UNLICENSED" counts as an id that no
 * sane allow-list contains).
 */
export function parseSpdx(text: string): Expr | null {
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const primary = (): Expr | null => {
    const t = tokens[i++];
    if (t === undefined) return null;
    if (t === '(') {
      const inner = or();
      if (!inner || tokens[i++] !== ')') return null;
      return inner;
    }
    if (t === ')' || /^(AND|OR|WITH)$/i.test(t)) return null;
    if (!/^[A-Za-z0-9.+:-]+$/.test(t)) return null;
    let id = t;
    if (peek()?.toUpperCase() === 'WITH') {
      i++;
      const exception = tokens[i++];
      if (!exception || !/^[A-Za-z0-9.-]+$/.test(exception)) return null;
      id = `${t} WITH ${exception}`;
    }
    return { kind: 'id', id };
  };
  const and = (): Expr | null => {
    let left = primary();
    while (left && peek()?.toUpperCase() === 'AND') {
      i++;
      const right = primary();
      if (!right) return null;
      left = { kind: 'and', left, right };
    }
    return left;
  };
  const or = (): Expr | null => {
    let left = and();
    while (left && peek()?.toUpperCase() === 'OR') {
      i++;
      const right = and();
      if (!right) return null;
      left = { kind: 'or', left, right };
    }
    return left;
  };
  const expr = or();
  return expr && i === tokens.length ? expr : null;
}

function allows(expr: Expr, allowed: ReadonlySet<string>): boolean {
  if (expr.kind === 'or') return allows(expr.left, allowed) || allows(expr.right, allowed);
  if (expr.kind === 'and') return allows(expr.left, allowed) && allows(expr.right, allowed);
  if (allowed.has(expr.id)) return true;
  // A licence exception (`WITH Classpath-exception-2.0`) only adds permissions; `GPL-2.0+` means
  // "this version or later": both pass when their base licence is allowed.
  const base = expr.id.split(' WITH ')[0]!.replace(/\+$/, '');
  return allowed.has(base) || allowed.has(base.replace(/-or-later$/, '').replace(/-only$/, ''));
}

export function checkLicense(pkg: InstalledPackage, policy: LicensePolicy): LicenseVerdict {
  const license = declaredLicense(pkg);
  const exception = policy.exceptions.find((e) => e.package === pkg.name && e.license === (license ?? 'UNKNOWN'));
  if (exception) return { ok: true, license: license ?? 'UNKNOWN', via: 'exception', reason: exception.reason };
  if (!license) return { ok: false, license: null, problem: 'missing' };
  const expr = parseSpdx(license);
  if (!expr) return { ok: false, license, problem: 'unparsable' };
  return allows(expr, new Set(policy.allow))
    ? { ok: true, license, via: 'allow-list' }
    : { ok: false, license, problem: 'not-allowed' };
}

/** Validates a parsed `.secops/licenses.json`; returns the problems (empty when valid). */
export function validateLicensePolicy(value: unknown): { policy?: LicensePolicy; problems: string[] } {
  const problems: string[] = [];
  if (!value || typeof value !== 'object') return { problems: ['the licence policy must be a JSON object'] };
  const v = value as Record<string, unknown>;
  const allow = Array.isArray(v.allow) ? v.allow.filter((x): x is string => typeof x === 'string') : [];
  if (!Array.isArray(v.allow) || allow.length !== v.allow.length) problems.push('`allow` must be an array of SPDX identifiers');
  const list = <T>(key: string, fields: string[]): T[] => {
    const raw = v[key] ?? [];
    if (!Array.isArray(raw)) {
      problems.push(`\`${key}\` must be an array`);
      return [];
    }
    raw.forEach((entry, index) => {
      for (const f of fields) {
        const value = (entry as Record<string, unknown> | null)?.[f];
        if (typeof value !== 'string' || value.trim() === '') problems.push(`${key}[${index}]: \`${f}\` is required`);
      }
    });
    return raw as T[];
  };
  const exceptions = list<LicensePolicy['exceptions'][number]>('exceptions', ['package', 'license', 'reason']);
  const banned = list<LicensePolicy['banned'][number]>('banned', ['package', 'reason']);
  return problems.length > 0 ? { problems } : { policy: { allow, exceptions, banned }, problems };
}
