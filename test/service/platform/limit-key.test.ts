import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { limitKeyOf, parseIpv6 } from '../../../service/src/platform/limit-key.js';

/** 128-bit value of eight words. */
const toBig = (words: readonly number[]) => words.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
const fromBig = (value: bigint) => Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(16 * (7 - i))) & 0xffffn));
const full = (words: readonly number[]) => words.map((w) => w.toString(16)).join(':');

/** The expected key, computed independently: BigInt mask, WHATWG URL's canonical (RFC 5952) serialization. */
function expectedKey(words: readonly number[], prefix: number): string {
  const mask = prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);
  const network = fromBig(toBig(words) & mask);
  return `${new URL(`http://[${full(network)}]/`).hostname.slice(1, -1)}/${prefix}`;
}

const isMapped = (w: readonly number[]) => w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff;

const word = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
/** Addresses with many zero runs (so "::" shows up in every position) and some all-random ones. */
const words = fc.array(word, { minLength: 8, maxLength: 8 });

/** One of the many text forms of the same address. */
const rendering: fc.Arbitrary<Rendering> = fc.record({
  compress: fc.boolean(),
  upper: fc.boolean(),
  leadingZeros: fc.boolean(),
  ipv4Tail: fc.boolean(),
  zone: fc.constantFrom('', '%eth0', '%25', '%1'),
  brackets: fc.boolean(),
});

interface Rendering {
  compress: boolean;
  upper: boolean;
  leadingZeros: boolean;
  ipv4Tail: boolean;
  zone: string;
  brackets: boolean;
}

function render(w: readonly number[], r: Rendering): string {
  let parts = w.map((x) => (r.leadingZeros ? x.toString(16).padStart(4, '0') : x.toString(16)));
  if (r.ipv4Tail) {
    const [hi, lo] = [w[6] as number, w[7] as number];
    parts = [...parts.slice(0, 6), `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`];
  }
  let text = parts.join(':');
  if (r.compress) {
    // Compress the first run of two or more zero words (not necessarily the longest: still valid).
    const groups = parts;
    const start = groups.findIndex((g, i) => /^0+$/.test(g) && /^0+$/.test(groups[i + 1] ?? ''));
    if (start >= 0) {
      let end = start;
      while (end < groups.length && /^0+$/.test(groups[end] as string)) end++;
      text = `${groups.slice(0, start).join(':')}::${groups.slice(end).join(':')}`;
    }
  }
  if (r.upper) text = text.toUpperCase();
  text += r.zone;
  return r.brackets ? `[${text}]` : text;
}

describe('limitKeyOf: the per-IP limit key', () => {
  it('keys IPv4 by the address as is', () => {
    assert.equal(limitKeyOf('203.0.113.9', 64), '203.0.113.9');
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 32, max: 128 }), (ip, prefix) => limitKeyOf(ip, prefix) === ip),
    );
  });

  it('keys IPv4-mapped IPv6, in any form, as the IPv4 address', () => {
    for (const form of ['::ffff:10.0.0.1', '::FFFF:10.0.0.1', '::ffff:a00:1', '0:0:0:0:0:ffff:0a00:0001', '[::ffff:10.0.0.1]', '::ffff:10.0.0.1%eth0']) {
      assert.equal(limitKeyOf(form, 64), '10.0.0.1', form);
    }
    fc.assert(
      fc.property(fc.ipV4(), rendering, fc.integer({ min: 32, max: 128 }), (ip, r, prefix) => {
        const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
        const w = [0, 0, 0, 0, 0, 0xffff, (a << 8) | b, (c << 8) | d];
        assert.equal(limitKeyOf(render(w, r), prefix), ip);
      }),
    );
  });

  it('keys IPv6 by the canonical network of its prefix, whatever the text form', () => {
    assert.equal(limitKeyOf('2001:DB8:0001:0002:aaaa:bbbb:cccc:dddd', 64), '2001:db8:1:2::/64');
    assert.equal(limitKeyOf('2001:db8:1:2::1%eth0', 64), '2001:db8:1:2::/64');
    assert.equal(limitKeyOf('[2001:db8::1]', 64), '2001:db8::/64');
    assert.equal(limitKeyOf('fe80::1%25en0', 64), 'fe80::/64');
    assert.equal(limitKeyOf('64:ff9b::192.0.2.1', 96), '64:ff9b::/96');
    assert.equal(limitKeyOf('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6/128');
    assert.equal(limitKeyOf('2001:db8:1:2:3:4:5:6', 48), '2001:db8:1::/48');
    assert.equal(limitKeyOf('2001:db8:1:2:3:4:5:6', 56), '2001:db8:1::/56');
    assert.equal(limitKeyOf('2001:db8:1:2ff:3:4:5:6', 56), '2001:db8:1:200::/56');
    assert.equal(limitKeyOf('::1', 64), '::/64');
    fc.assert(
      fc.property(words, rendering, fc.integer({ min: 32, max: 128 }), (w, r, prefix) => {
        fc.pre(!isMapped(w));
        assert.equal(limitKeyOf(render(w, r), prefix), expectedKey(w, prefix));
      }),
      { numRuns: 2000 },
    );
  });

  it('gives addresses one key exactly when they share the prefix', () => {
    fc.assert(
      fc.property(words, words, fc.integer({ min: 32, max: 128 }), (a, b, prefix) => {
        fc.pre(!isMapped(a) && !isMapped(b));
        const shift = BigInt(128 - prefix);
        const same = toBig(a) >> shift === toBig(b) >> shift;
        assert.equal(limitKeyOf(full(a), prefix) === limitKeyOf(full(b), prefix), same);
        // The same network with any interface id keys the same.
        const sibling = fromBig(((toBig(a) >> shift) << shift) | (toBig(b) & ((1n << shift) - 1n)));
        fc.pre(!isMapped(sibling));
        assert.equal(limitKeyOf(full(sibling), prefix), limitKeyOf(full(a), prefix));
      }),
      { numRuns: 1000 },
    );
  });

  it('parses exactly what Node accepts as IPv6, and returns anything else unchanged without throwing', () => {
    const token = fc.constantFrom('0', '1', 'f', 'ffff', 'FFFF', 'db8', '2001', '00000', 'g', ':', ':', '::', '.', '1.2.3.4', '255.255.255.255', '256.1.1.1', '%eth0', ' ');
    fc.assert(
      fc.property(fc.array(token, { maxLength: 14 }).map((t) => t.join('')), (text) => {
        assert.equal(parseIpv6(text) !== undefined, isIPv6(text), text);
        const key = limitKeyOf(text, 64);
        if (!isIPv6(text) && !/^\d+\.\d+\.\d+\.\d+$/.test(text)) assert.equal(key, text);
      }),
      { numRuns: 5000 },
    );
    assert.equal(limitKeyOf('', 64), '');
    assert.equal(limitKeyOf('unknown', 64), 'unknown');
  });
});
