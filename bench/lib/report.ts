/** The results of `npm run bench`: one table, the targets, and bench/results/latest.{json,md,svg}. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fmt, type LatencySummary, table } from './stats.js';

export interface ResultRow {
  scenario: string;
  /** Successful requests per second; undefined for latency-only rows. */
  rate?: number;
  latency: LatencySummary;
  errors: number;
  /** CPU ms (server process, all threads) per successful request. */
  cpuMsPerRequest?: number;
  baseline?: string;
  /** Scenario ÷ baseline: throughput ratio, or for latency rows p99 ratio. */
  ratio?: number;
}

export interface Target {
  name: string;
  /** What is compared, e.g. "login req/s ÷ raw verify/s". */
  measure: string;
  value: number;
  op: '>=' | '<=';
  limit: number;
  unit?: string;
}

export const met = (t: Target) => Number.isFinite(t.value) && (t.op === '>=' ? t.value >= t.limit : t.value <= t.limit);

const HEADER = ['scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'errors', 'CPU ms/req', 'baseline', 'ratio'];

function cells(r: ResultRow): string[] {
  return [
    r.scenario,
    r.rate === undefined ? '' : fmt(r.rate),
    fmt(r.latency.p50, 2),
    fmt(r.latency.p95, 2),
    fmt(r.latency.p99, 2),
    String(r.errors),
    r.cpuMsPerRequest === undefined ? '' : fmt(r.cpuMsPerRequest, 2),
    r.baseline ?? '',
    r.ratio === undefined ? '' : `${fmt(r.ratio, 2)}×`,
  ];
}

export function textTable(rows: ResultRow[]): string {
  return table(HEADER, rows.map(cells));
}

export function targetLines(targets: Target[]): string[] {
  return targets.map(
    (t) =>
      `${met(t) ? 'met   ' : 'MISSED'}  ${t.name}: ${t.measure} = ${fmt(t.value, 2)}${t.unit ?? ''} (target ${t.op === '>=' ? '≥' : '≤'} ${t.limit}${t.unit ?? ''})`,
  );
}

function markdownTable(rows: ResultRow[]): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  return [
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i === 0 || i === 7 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`),
  ].join('\n');
}

/** A bar per target: the measured value against its limit (a dashed line), green when met. */
export function svgChart(targets: Target[], title: string): string {
  const rowH = 44;
  const left = 330;
  const width = 820;
  const plot = width - left - 90;
  const height = 60 + targets.length * rowH;
  const x = (v: number, max: number) => left + (Math.max(0, Math.min(v, max)) / max) * plot;
  const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<title>${esc(title)}: measured ratio per target, dashed line at the target</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="12" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  targets.forEach((t, i) => {
    const y = 44 + i * rowH;
    // Scale each bar to twice its limit (or the value, if larger), so the limit sits mid-way.
    const max = Math.max(t.limit * 2, t.value * 1.1) || 1;
    const ok = met(t);
    parts.push(
      `<text x="12" y="${y + 17}">${esc(t.name)}</text>`,
      `<text x="12" y="${y + 32}" fill="#666" font-size="11">${esc(`${t.op === '>=' ? '≥' : '≤'} ${t.limit}${t.unit ?? ''}`)}</text>`,
      `<rect x="${left}" y="${y + 6}" width="${(x(t.value, max) - left).toFixed(1)}" height="22" fill="${ok ? '#2e7d32' : '#c62828'}"/>`,
      `<line x1="${x(t.limit, max).toFixed(1)}" y1="${y}" x2="${x(t.limit, max).toFixed(1)}" y2="${y + 34}" stroke="black" stroke-dasharray="4 3"/>`,
      `<text x="${(x(t.value, max) + 6).toFixed(1)}" y="${y + 22}">${esc(`${fmt(t.value, 2)}${t.unit ?? '×'} ${ok ? 'met' : 'missed'}`)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export interface BenchReport {
  at: string;
  environment: Record<string, string | number>;
  rows: ResultRow[];
  targets: (Target & { met: boolean })[];
  wallSeconds: number;
}

/** Writes latest.json, latest.md and latest.svg (the latest run only; history is git's). */
export function writeResults(dir: string, report: BenchReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}/latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  const env = Object.entries(report.environment)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const md = [
    `# npm run bench — ${report.at}`,
    '',
    env,
    '',
    markdownTable(report.rows),
    '',
    '## Targets',
    '',
    ...targetLines(report.targets).map((l) => `- ${l}`),
    '',
    `Wall time: ${fmt(report.wallSeconds, 0)} s. Chart: [latest.svg](latest.svg).`,
    '',
  ].join('\n');
  writeFileSync(`${dir}/latest.md`, md);
  writeFileSync(`${dir}/latest.svg`, svgChart(report.targets, `Rampart vs bare baselines — ${report.at.slice(0, 16)}Z`));
}
