import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type EmailResult, emailHash, normalizeEmail } from '../../../../service/src/components/auth/email.js';

function accepted(result: EmailResult): string {
  assert.ok(result.ok, `expected the address to be accepted, got: ${result.ok ? '' : result.reason}`);
  return result.email;
}

function rejected(result: EmailResult): string {
  assert.ok(!result.ok, `expected the address to be rejected, got: ${result.ok ? result.email : ''}`);
  return result.reason;
}

const hex = (codePoint: number) => `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;

describe('normalizeEmail: canonical form', () => {
  it('trims surrounding spaces and lower-cases the whole address', () => {
    assert.equal(accepted(normalizeEmail('  Alice@Example.COM ')), 'alice@example.com');
  });

  it('folds fullwidth letters onto ASCII through NFKC', () => {
    assert.equal(accepted(normalizeEmail('ａｌｉｃｅ@example.com')), 'alice@example.com');
  });

  it('folds a fullwidth at sign onto "@" through NFKC', () => {
    assert.equal(accepted(normalizeEmail('alice＠example.com')), 'alice@example.com');
  });

  it('keeps sub-addresses and the symbols RFC 5322 allows in a local part', () => {
    assert.equal(accepted(normalizeEmail("O'Brien+Tag@Sub.Example.co.uk")), "o'brien+tag@sub.example.co.uk");
  });

  it('accepts internationalized domains and lower-cases them', () => {
    assert.equal(accepted(normalizeEmail('alice@BÜCHER.de')), 'alice@bücher.de');
  });

  it('is idempotent: normalizing a normalized address changes nothing', () => {
    for (const raw of ['  Alice@Example.COM ', 'ａｌｉｃｅ@example.com', 'alice@BÜCHER.de']) {
      const once = accepted(normalizeEmail(raw));
      assert.equal(accepted(normalizeEmail(once)), once);
    }
  });
});

describe('normalizeEmail: input type', () => {
  for (const value of [undefined, null, 42, true, {}, ['alice@example.com'], Buffer.from('alice@example.com')]) {
    it(`rejects a non-string (${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value})`, () => {
      assert.equal(rejected(normalizeEmail(value)), 'Email address must be a string.');
    });
  }

  it('rejects an empty or blank address', () => {
    assert.equal(rejected(normalizeEmail('')), 'Email address is required.');
    assert.equal(rejected(normalizeEmail('   ')), 'Email address is required.');
  });
});

describe('normalizeEmail: hidden and control characters', () => {
  const controls = [0x00, 0x09, 0x0a, 0x0d, 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9b, 0x9f];
  for (const cp of controls) {
    it(`rejects the control character ${hex(cp)} inside the address`, () => {
      const reason = rejected(normalizeEmail(`ali${String.fromCodePoint(cp)}ce@example.com`));
      assert.match(reason, /control characters/);
    });
  }

  it('rejects a trailing CR LF instead of trimming it away', () => {
    assert.match(rejected(normalizeEmail('alice@example.com\r\n')), /control characters/);
  });

  it('rejects a leading TAB instead of trimming it away', () => {
    assert.match(rejected(normalizeEmail('\talice@example.com')), /control characters/);
  });

  const zeroWidth = [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x180e];
  for (const cp of zeroWidth) {
    it(`rejects the zero-width character ${hex(cp)} hidden in the local part`, () => {
      assert.match(rejected(normalizeEmail(`ali${String.fromCodePoint(cp)}ce@example.com`)), /zero-width/);
    });
  }

  it('rejects a zero-width space hidden in the domain', () => {
    assert.match(rejected(normalizeEmail('alice@exam\u200Bple.com')), /zero-width/);
  });

  it('rejects a byte-order mark at the start instead of trimming it away', () => {
    assert.match(rejected(normalizeEmail('\uFEFFalice@example.com')), /zero-width/);
  });

  const bidi = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c];
  for (const cp of bidi) {
    it(`rejects the bidi control ${hex(cp)} that would make the address display differently`, () => {
      assert.match(rejected(normalizeEmail(`alice${String.fromCodePoint(cp)}@example.com`)), /text-direction/);
    });
  }

  it('rejects other invisible format characters such as a soft hyphen in the domain', () => {
    assert.match(rejected(normalizeEmail('alice@exam\u00ADple.com')), /invisible or non-printing/);
  });

  it('rejects a lone surrogate', () => {
    assert.match(rejected(normalizeEmail('alice\uD800@example.com')), /invisible or non-printing/);
  });

  it('never echoes the input in the reason', () => {
    const reason = rejected(normalizeEmail('secret-name\u202E@example.com'));
    assert.ok(!reason.includes('secret-name'));
    assert.ok(!reason.includes('example.com'));
  });
});

describe('normalizeEmail: length limits', () => {
  // 63 + 1 + 63 + 1 + tail + 4 (".com")
  const domainOf = (octets: number) => `${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(octets - 132)}.com`;

  it('accepts an address of exactly 254 octets', () => {
    const email = `${'a'.repeat(64)}@${domainOf(189)}`;
    assert.equal(email.length, 254);
    assert.equal(accepted(normalizeEmail(email)), email);
  });

  it('rejects an address of 255 octets', () => {
    const email = `${'a'.repeat(64)}@${domainOf(190)}`;
    assert.equal(email.length, 255);
    assert.match(rejected(normalizeEmail(email)), /at most 254 bytes/);
  });

  it('counts the 254 limit in UTF-8 octets, not characters', () => {
    const domain = (letter: string) => `${letter.repeat(45)}.${'b'.repeat(63)}.${'c'.repeat(40)}.com`;
    const ascii = `${'a'.repeat(60)}@${domain('u')}`;
    const accented = `${'a'.repeat(60)}@${domain('ü')}`;
    assert.equal(accented.length, 215);
    assert.equal(Buffer.byteLength(accented), 260);
    assert.equal(accepted(normalizeEmail(ascii)), ascii);
    assert.match(rejected(normalizeEmail(accented)), /at most 254 bytes/);
  });

  it('accepts a local part of exactly 64 octets', () => {
    const email = `${'a'.repeat(64)}@example.com`;
    assert.equal(accepted(normalizeEmail(email)), email);
  });

  it('rejects a local part of 65 octets', () => {
    assert.match(rejected(normalizeEmail(`${'a'.repeat(65)}@example.com`)), /before the @ sign must be at most 64 bytes/);
  });

  it('rejects very long input without normalizing it', () => {
    assert.match(rejected(normalizeEmail(`${'a'.repeat(100_000)}@example.com`)), /at most 254 bytes/);
  });
});

describe('normalizeEmail: address syntax', () => {
  it('rejects a domain without a top-level domain', () => {
    assert.match(rejected(normalizeEmail('alice@localhost')), /top-level domain/);
  });

  it('rejects a one-letter or numeric top-level domain', () => {
    rejected(normalizeEmail('alice@example.c'));
    rejected(normalizeEmail('alice@example.123'));
  });

  for (const domain of ['[127.0.0.1]', '127.0.0.1', '[IPv6:2001:db8::1]', '[::1]', '2001:db8::1']) {
    it(`rejects the IP address domain ${domain}`, () => {
      assert.match(rejected(normalizeEmail(`alice@${domain}`)), /IP address/);
    });
  }

  for (const address of ['Alice <alice@example.com>', '"Alice Smith" <alice@example.com>', '<alice@example.com>']) {
    it(`rejects the display-name form ${address}`, () => {
      assert.match(rejected(normalizeEmail(address)), /display name/);
    });
  }

  it('rejects two @ signs', () => {
    assert.match(rejected(normalizeEmail('alice@bob@example.com')), /exactly one @/);
    assert.match(rejected(normalizeEmail('alice@@example.com')), /exactly one @/);
  });

  it('rejects an address without an @ sign', () => {
    assert.match(rejected(normalizeEmail('alice.example.com')), /must contain an @/);
  });

  it('rejects an empty local part or domain', () => {
    assert.match(rejected(normalizeEmail('@example.com')), /before the @ sign/);
    assert.match(rejected(normalizeEmail('alice@')), /domain after the @ sign/);
  });

  it('rejects quoted local parts, which may hide spaces and escapes', () => {
    assert.match(rejected(normalizeEmail('"alice smith"@example.com')), /Quoted/);
  });

  it('rejects a non-ASCII local part', () => {
    assert.match(rejected(normalizeEmail('ünïcode@example.com')), /only ASCII/);
    // Cyrillic "а" (U+0430) would otherwise make a look-alike of alice@example.com.
    assert.match(rejected(normalizeEmail('\u0430lice@example.com')), /only ASCII/);
  });

  it('rejects spaces inside the address', () => {
    rejected(normalizeEmail('alice smith@example.com'));
    rejected(normalizeEmail('alice@exa mple.com'));
  });

  for (const address of [
    'a..b@example.com',
    '.alice@example.com',
    'alice.@example.com',
    'alice@-example.com',
    'alice@exa_mple.com',
    'alice@example..com',
  ]) {
    it(`rejects the malformed address ${address}`, () => {
      assert.equal(rejected(normalizeEmail(address)), 'Email address is not valid.');
    });
  }
});

describe('emailHash', () => {
  it('is the hex SHA-256 of the UTF-8 address without a key', () => {
    assert.equal(emailHash('alice@example.com'), 'ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976');
  });

  it('is the hex HMAC-SHA-256 with a key', () => {
    const key = new TextEncoder().encode('audit-key-0123456789abcdef012345');
    assert.equal(emailHash('alice@example.com', key), 'e8ea0497aea0b7e11cd6f36a197426b17a304787fa4b635bf5bc611a7515f8f4');
  });

  it('gives different hashes under different keys', () => {
    const a = emailHash('alice@example.com', new Uint8Array(32).fill(1));
    const b = emailHash('alice@example.com', new Uint8Array(32).fill(2));
    assert.notEqual(a, b);
    assert.match(a, /^[0-9a-f]{64}$/);
  });

  it('refuses an empty key rather than hashing with it', () => {
    assert.throws(() => emailHash('alice@example.com', new Uint8Array(0)), RangeError);
  });

  it('hashes every spelling of one address alike once normalized', () => {
    const spellings = ['  Alice@Example.COM ', 'ａｌｉｃｅ@example.com', 'alice@example.com'];
    const hashes = spellings.map((raw) => emailHash(accepted(normalizeEmail(raw))));
    assert.equal(new Set(hashes).size, 1);
  });
});
