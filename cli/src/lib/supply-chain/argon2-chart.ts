import type { PointResult } from './argon2-calibration.js';

const measured = (results: readonly PointResult[]) =>
  results.filter(
    (r): r is PointResult & { concurrentP95Ms: number } => r.status === 'measured' && r.concurrentP95Ms !== undefined,
  );

const series = (r: PointResult) => `t=${r.timeCost} p=${r.parallelism}`;

/** Horizontal bars of p95 latency per grid point, grouped by (t, p), with the budget marked. */
export function terminalChart(results: readonly PointResult[], budgetMs: number, concurrency: number, width = 48): string {
  const points = measured(results);
  if (points.length === 0) return '';
  const scale = Math.max(budgetMs * 1.25, ...points.map((p) => p.concurrentP95Ms));
  const col = (ms: number) => Math.min(width, Math.round((ms / scale) * width));
  const budgetCol = col(budgetMs);
  const lines = [`p95 latency vs memory cost at concurrency ${concurrency} (│ = budget ${budgetMs} ms)`];
  let group = '';
  for (const p of points) {
    if (series(p) !== group) {
      group = series(p);
      lines.push(`  ${group}`);
    }
    const cells: string[] = Array.from({ length: width + 1 }, (_, i) =>
      i < col(p.concurrentP95Ms) ? '█' : i === budgetCol ? '│' : ' ',
    );
    if (budgetCol < col(p.concurrentP95Ms)) cells[budgetCol] = '┼';
    lines.push(`    ${String(p.memoryKiB).padStart(6)} KiB ${cells.join('')} ${Math.round(p.concurrentP95Ms)} ms`);
  }
  return lines.join('\n');
}

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The same data as an SVG line chart: x = memory (KiB), y = p95 ms, one line per (t, p). */
export function svgChart(results: readonly PointResult[], budgetMs: number, concurrency: number): string {
  const points = measured(results);
  const W = 720;
  const H = 420;
  const pad = { left: 64, right: 150, top: 40, bottom: 50 };
  const xs = points.map((p) => p.memoryKiB);
  const xMin = Math.min(...xs, 19456);
  const xMax = Math.max(...xs, xMin + 1);
  const yMax = Math.max(budgetMs * 1.25, ...points.map((p) => p.concurrentP95Ms));
  const x = (kib: number) => pad.left + ((kib - xMin) / (xMax - xMin)) * (W - pad.left - pad.right);
  const y = (ms: number) => H - pad.bottom - (ms / yMax) * (H - pad.top - pad.bottom);
  const groups = new Map<string, typeof points>();
  for (const p of points) groups.set(series(p), [...(groups.get(series(p)) ?? []), p]);
  const f = (n: number) => n.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${pad.left}" y="22" font-size="14">Argon2id p95 latency vs memory cost (concurrency ${concurrency})</text>`,
    `<line x1="${pad.left}" y1="${H - pad.bottom}" x2="${W - pad.right}" y2="${H - pad.bottom}" stroke="black"/>`,
    `<line x1="${pad.left}" y1="${pad.top}" x2="${pad.left}" y2="${H - pad.bottom}" stroke="black"/>`,
    `<text x="${(W - pad.right + pad.left) / 2}" y="${H - 12}" text-anchor="middle">memory cost (KiB)</text>`,
    `<text x="16" y="${(H - pad.bottom + pad.top) / 2}" transform="rotate(-90 16 ${(H - pad.bottom + pad.top) / 2})" text-anchor="middle">p95 latency (ms)</text>`,
    `<line x1="${pad.left}" y1="${f(y(budgetMs))}" x2="${W - pad.right}" y2="${f(y(budgetMs))}" stroke="red" stroke-dasharray="6 4"/>`,
    `<text x="${W - pad.right + 4}" y="${f(y(budgetMs) + 4)}" fill="red">budget ${budgetMs} ms</text>`,
  ];
  for (const kib of [...new Set(xs)].sort((a, b) => a - b))
    parts.push(`<text x="${f(x(kib))}" y="${H - pad.bottom + 16}" text-anchor="middle">${kib}</text>`);
  for (let i = 0; i <= 4; i++) {
    const ms = (yMax * i) / 4;
    parts.push(`<text x="${pad.left - 6}" y="${f(y(ms) + 4)}" text-anchor="end">${Math.round(ms)}</text>`);
  }
  [...groups.entries()].forEach(([name, pts], i) => {
    const colour = COLOURS[i % COLOURS.length]!;
    parts.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map((p) => `${f(x(p.memoryKiB))},${f(y(p.concurrentP95Ms))}`).join(' ')}"/>`,
    );
    for (const p of pts) parts.push(`<circle cx="${f(x(p.memoryKiB))}" cy="${f(y(p.concurrentP95Ms))}" r="3" fill="${colour}"/>`);
    parts.push(`<text x="${W - pad.right + 4}" y="${pad.top + 16 * i + 20}" fill="${colour}">${name}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
