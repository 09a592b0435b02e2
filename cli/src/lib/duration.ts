import { UsageError } from './errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `90d`, `15m`, `5s`, `250ms`, `0` → milliseconds. A bare number is refused (except 0): "90" could mean
 * days to one operator and seconds to another. Used by every command that takes a duration.
 */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m || (m[2] === undefined && m[1] !== '0')) {
    throw new UsageError(`${option} must be a duration such as 90d, 12h, 15m, 5s or 250ms (got "${text}")`);
  }
  const ms = Number(m[1]) * (UNITS[m[2] ?? 'ms'] as number);
  if (!Number.isSafeInteger(ms)) throw new UsageError(`${option} is too large: ${text}`);
  return ms;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms > 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** 7_500_000 → `2h05m`; 12_300 → `12.3s`; 3 days → `3d02h`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return `${i === 0 ? value : value.toFixed(1)} ${units[i]}`;
}
