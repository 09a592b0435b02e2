import { UsageError } from './errors.js';

/**
 * Parsers for option values shared by the command definitions: each turns the text commander hands
 * over into a typed value or a UsageError (exit 2) naming the option. Durations: ./duration.ts.
 */

/** A whole number from `min` to `max`, written in digits only (`1e3`, `0x10`, `4.0` and ` 4` are refused). */
export function wholeNumber(text: string, option: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${option} must be a whole number from ${min} to ${max} (got "${text}")`);
  }
  return n;
}

/** Like `wholeNumber`, for an option without a default: absent stays undefined. */
export function optionalWholeNumber(text: string | undefined, option: string, min: number, max: number): number | undefined {
  return text === undefined ? undefined : wholeNumber(text, option, min, max);
}

/** One of the listed words (commander's `.choices()` checks the flag; this types it). */
export function oneOf<T extends string>(text: string, option: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) throw new UsageError(`${option} must be one of ${choices.join(', ')} (got "${text}")`);
  return text as T;
}

/** An absolute http:// or https:// URL. */
export function httpUrl(text: string, option: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${option} must be an absolute http(s) URL (got "${text}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${option} must be http:// or https:// (got ${url.protocol})`);
  return url;
}
