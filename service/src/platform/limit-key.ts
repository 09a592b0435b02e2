import { isIPv4 } from 'node:net';

/**
 * The key every per-IP limit, the (email, IP) login lockout and the abuse breaker count a client
 * by (RATE_LIMIT_IPV6_PREFIX, docs/api.md "Rate limits"):
 *
 * - IPv4: the address as is (`203.0.113.9`);
 * - IPv4-mapped IPv6 (`::ffff:203.0.113.9`, `::FFFF:cb00:7109`): that IPv4 address, so a dual-stack
 *   socket and a plain IPv4 one share one bucket;
 * - IPv6: the network of its /`ipv6Prefix` in RFC 5952 form with the prefix length
 *   (`2001:db8:1:2::/64`), whatever the textual form — compressed or not, any case, leading zeros,
 *   a zone id (`%eth0`), brackets, an embedded IPv4 tail. One subscriber usually holds a whole /64,
 *   so rotating the interface id no longer buys a fresh bucket.
 *
 * Anything else (an untrusted hop's garbage in X-Forwarded-For, an empty peer) is returned as is:
 * it is still one stable key. Pure; the logged client IP stays the full address.
 */
export function limitKeyOf(ip: string, ipv6Prefix: number): string {
  if (isIPv4(ip)) return ip;
  const words = parseIpv6(ip);
  if (!words) return ip;
  if (isIpv4Mapped(words)) {
    const [high, low] = words.slice(6) as [number, number];
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  const prefix = Math.min(128, Math.max(0, Math.trunc(ipv6Prefix)));
  return `${formatIpv6(maskWords(words, prefix))}/${prefix}`;
}

const HEXTET = /^[0-9a-f]{1,4}$/i;
const ZONE = /^[0-9a-z.:-]+$/i;

/** The eight 16-bit words of an IPv6 address in any RFC 4291 §2.2 text form, or undefined. */
export function parseIpv6(input: string): number[] | undefined {
  let text = input;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone >= 0) {
    // A zone id ("%eth0") names an interface of the host, not part of the address.
    if (!ZONE.test(text.slice(zone + 1))) return undefined;
    text = text.slice(0, zone);
  }
  if (!text.includes(':')) return undefined;

  // An embedded IPv4 tail ("::ffff:192.0.2.1", "64:ff9b::192.0.2.1") is the last two words: rewrite it in hex.
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return undefined;
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }

  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseWords(halves[0] as string);
  const rest = halves.length === 2 ? parseWords(halves[1] as string) : [];
  if (!head || !rest) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  // "::" stands for at least one zero word.
  const missing = 8 - head.length - rest.length;
  if (missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...rest];
}

function parseWords(part: string): number[] | undefined {
  if (part === '') return [];
  const words: number[] = [];
  for (const group of part.split(':')) {
    if (!HEXTET.test(group)) return undefined;
    words.push(Number.parseInt(group, 16));
  }
  return words;
}

function isIpv4Mapped(words: readonly number[]): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff;
}

function maskWords(words: readonly number[], prefix: number): number[] {
  return words.map((word, i) => {
    const bits = Math.min(16, Math.max(0, prefix - i * 16));
    return bits === 0 ? 0 : word & ((0xffff << (16 - bits)) & 0xffff);
  });
}

/** RFC 5952 §4: lowercase, no leading zeros, the first longest run of two or more zero words as "::". */
export function formatIpv6(words: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
