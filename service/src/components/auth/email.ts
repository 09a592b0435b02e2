import { createHash, createHmac } from 'node:crypto';
import validator from 'validator';

/**
 * Email addresses as account identifiers: one canonical spelling per mailbox, so that look-alike or
 * invisible-character variants cannot create a second account, smuggle header-injection bytes into
 * mail, or hide in audit logs. Nothing here echoes the input back: `reason` is safe to send to a client.
 */
export type EmailResult = { ok: true; email: string } | { ok: false; reason: string };

/** RFC 5321 §4.5.3.1.3 limits a path to 256 octets including the angle brackets (RFC 3696 erratum 1690). */
const MAX_ADDRESS_OCTETS = 254;
/** RFC 5321 §4.5.3.1.1. */
const MAX_LOCAL_PART_OCTETS = 64;
/**
 * Longer raw input cannot trim and normalize down to 254 octets in practice; refusing it first keeps the
 * work below bounded whatever the request body limit is.
 */
const MAX_RAW_LENGTH = 1024;

/**
 * Characters that are never part of a legitimate address and are used to disguise one. Checked on the raw
 * input (so trimming cannot quietly drop a trailing CR/LF/TAB or BOM) and again after normalization.
 * The specific classes come first so the reason says what was found.
 */
const FORBIDDEN_CHARACTERS: ReadonlyArray<{ pattern: RegExp; reason: string }> = [
  // C0 (incl. NUL, TAB, LF, CR), DEL and C1.
  { pattern: /\p{Cc}/u, reason: 'Email address must not contain control characters.' },
  {
    pattern: /[\u200B-\u200D\u2060\uFEFF\u180E]/u,
    reason: 'Email address must not contain invisible (zero-width) characters.',
  },
  // Trojan Source (CVE-2021-42574): bidi controls make an address display differently from what it is.
  {
    pattern: /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/u,
    reason: 'Email address must not contain text-direction control characters.',
  },
  // Remaining format characters (soft hyphen, tag characters…), private use, unassigned code points,
  // lone surrogates and the Unicode line/paragraph separators.
  {
    pattern: /[\p{Cf}\p{Co}\p{Cn}\p{Cs}\p{Zl}\p{Zp}]/u,
    reason: 'Email address must not contain invisible or non-printing characters.',
  },
];

const IS_EMAIL_OPTIONS = {
  require_tld: true,
  allow_ip_domain: false,
  allow_display_name: false,
  require_display_name: false,
  // ASCII local parts only. A non-ASCII local part is deliverable only where every hop speaks SMTPUTF8
  // (RFC 6531), which we cannot promise for verification and notification mail, and mixed-script local
  // parts survive NFKC as look-alikes (Cyrillic "а" is not Latin "a"), so they could impersonate an
  // existing account in admin views and audit logs. Internationalized domains stay accepted: they have an
  // ASCII (A-label) form that every mail system can route.
  allow_utf8_local_part: false,
  allow_underscores: false,
  ignore_max_length: false,
} as const;

function fail(reason: string): EmailResult {
  return { ok: false, reason };
}

function forbiddenCharacterReason(s: string): string | undefined {
  return FORBIDDEN_CHARACTERS.find(({ pattern }) => pattern.test(s))?.reason;
}

/**
 * Validates an address and returns its canonical form: trimmed, NFKC-normalized, lower-cased.
 *
 * Lower-casing the local part departs from RFC 5321 §2.4 (which lets the receiving host treat it as
 * case-sensitive) on purpose: no mainstream provider does, and `Alice@` and `alice@` must not be two accounts.
 */
export function normalizeEmail(raw: unknown): EmailResult {
  if (typeof raw !== 'string') return fail('Email address must be a string.');
  if (raw.length > MAX_RAW_LENGTH) return fail(`Email address must be at most ${MAX_ADDRESS_OCTETS} bytes long.`);
  const rawProblem = forbiddenCharacterReason(raw);
  if (rawProblem) return fail(rawProblem);

  // NFKC folds compatibility forms (fullwidth letters, "＠", ligatures) onto their plain characters; the
  // second pass restores normal form where lower-casing broke it (e.g. U+0130 → "i" + U+0307).
  const email = raw.trim().normalize('NFKC').toLowerCase().normalize('NFKC');
  if (email.length === 0) return fail('Email address is required.');
  const normalizedProblem = forbiddenCharacterReason(email);
  if (normalizedProblem) return fail(normalizedProblem);

  if (/[<>]/.test(email)) return fail('Enter only the email address, without a display name.');
  const at = email.indexOf('@');
  if (at === -1) return fail('Email address must contain an @ sign.');
  if (email.indexOf('@', at + 1) !== -1) return fail('Email address must contain exactly one @ sign.');

  if (Buffer.byteLength(email, 'utf8') > MAX_ADDRESS_OCTETS) {
    return fail(`Email address must be at most ${MAX_ADDRESS_OCTETS} bytes long.`);
  }
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (local.length === 0) return fail('Email address is missing the part before the @ sign.');
  if (Buffer.byteLength(local, 'utf8') > MAX_LOCAL_PART_OCTETS) {
    return fail(`The part before the @ sign must be at most ${MAX_LOCAL_PART_OCTETS} bytes long.`);
  }
  // RFC 5321 §4.1.2: mailboxes SHOULD NOT need the quoted-string form; it admits spaces and escapes.
  if (local.startsWith('"')) return fail('Quoted email addresses are not supported.');
  if (/[^\x21-\x7E]/.test(local)) return fail('The part before the @ sign may contain only ASCII letters, digits and symbols.');
  if (domain.length === 0) return fail('Email address is missing the domain after the @ sign.');
  if (domain.startsWith('[') || /^[\d.]+$/.test(domain) || domain.includes(':')) {
    return fail('Email addresses at an IP address are not accepted; use a domain name.');
  }
  if (!domain.includes('.')) return fail('The domain must include a top-level domain, such as example.com.');

  if (!validator.isEmail(email, IS_EMAIL_OPTIONS)) return fail('Email address is not valid.');
  return { ok: true, email };
}

/**
 * Hex SHA-256 of a normalized address for audit logs, or HMAC-SHA-256 when a key is given. Addresses are
 * guessable, so an unkeyed hash is only a pseudonym: anyone with a list of addresses can reverse it. Use
 * a secret key wherever the logs leave the trust boundary of the database.
 */
export function emailHash(normalizedEmail: string, key?: Uint8Array): string {
  if (key === undefined) return createHash('sha256').update(normalizedEmail, 'utf8').digest('hex');
  if (key.byteLength === 0) throw new RangeError('emailHash: the HMAC key must not be empty');
  return createHmac('sha256', key).update(normalizedEmail, 'utf8').digest('hex');
}
