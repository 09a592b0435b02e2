/**
 * Debian version ordering, as dpkg implements it (lib/dpkg/version.c, `dpkg --compare-versions`;
 * Debian Policy §5.6.12): `[epoch:]upstream[-revision]`. Epochs compare as numbers; upstream and
 * revision compare by alternating non-digit and digit runs, where letters sort before other
 * characters, `~` sorts before everything (even the end of the string), and digit runs compare as
 * numbers.
 */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

export function parseDebianVersion(text: string): DebianVersion {
  const version = text.trim();
  if (version === '' || /\s/.test(version)) throw new Error(`not a Debian version: ${JSON.stringify(text)}`);
  const colon = version.indexOf(':');
  let epoch = 0;
  if (colon !== -1) {
    const digits = version.slice(0, colon);
    if (!/^\d+$/.test(digits)) throw new Error(`not a Debian version (epoch must be a number): ${text}`);
    epoch = Number(digits);
  }
  const rest = version.slice(colon + 1);
  const dash = rest.lastIndexOf('-');
  const upstream = dash === -1 ? rest : rest.slice(0, dash);
  const revision = dash === -1 ? '' : rest.slice(dash + 1);
  if (upstream === '') throw new Error(`not a Debian version (empty upstream part): ${text}`);
  return { epoch, upstream, revision };
}

/** The weight of one character in a non-digit run; 0 stands for "end of the run". */
function order(c: string | undefined): number {
  if (c === undefined || (c >= '0' && c <= '9')) return 0;
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return c.charCodeAt(0);
  if (c === '~') return -1;
  return c.charCodeAt(0) + 256;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** dpkg's verrevcmp: compares one upstream or revision part. */
function compareParts(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/** Negative when a sorts before b, 0 when equal, positive after (only the sign is meaningful). */
export function compareDebianVersions(a: string, b: string): number {
  const x = parseDebianVersion(a);
  const y = parseDebianVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return compareParts(x.upstream, y.upstream) || compareParts(x.revision, y.revision);
}
