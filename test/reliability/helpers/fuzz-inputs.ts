import fc from 'fast-check';

/**
 * Generators of hostile input for the fuzz suite: strings, JSON texts (duplicate keys, prototype
 * keys, deep nesting, huge numbers, invalid UTF-8), query strings, path ids, headers and framing.
 */

/** Strings that have broken servers before: injection, traversal, NUL, lone surrogates, control and bidi characters. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '\ufeff',
  '\u202e',
  '\r\nSet-Cookie: x=1',
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  "1); select pg_sleep(30); --",
  '$1',
  '\\',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '%00',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell probe, literally
  '${jndi:ldap://127.0.0.1/x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'prototype',
  'null',
  'true',
  '-1',
  'NaN',
  '1e309',
  'ｕｓｅｒ@ｅｘａｍｐｌｅ.ｃｏｍ',
  'user@example.com',
  'USER@EXAMPLE.COM ',
  'a@b',
  '@',
  'correct horse battery staple 42',
  'Tr0ub4dor&3xyzzy-plugh',
];

/** Any string, weighted toward the nasty ones; occasionally very long (up to past the body limit). */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY_STRINGS), weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('a', '\u0000', 'é', '😀', '\ud800', ' ', '"', '\\'), fc.integer({ min: 200, max: 140_000 }))
      .map(([c, n]) => c.repeat(n)),
    weight: 1,
  },
);

/** A piece of JSON text written verbatim (numbers JSON.stringify cannot produce, raw escapes). */
class RawJson {
  constructor(readonly text: string) {}
}

const rawScalars = fc.constantFrom(
  new RawJson('1e309'),
  new RawJson('-1e309'),
  new RawJson('-0'),
  new RawJson(`1${'0'.repeat(400)}`),
  new RawJson(`0.${'0'.repeat(400)}1`),
  new RawJson('9007199254740993'),
  new RawJson('"\\ud800"'),
  new RawJson('"\\u0000"'),
  new RawJson('"\\udc00\\ud800"'),
);

const scalar: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileString, weight: 6 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
  { arbitrary: fc.boolean(), weight: 1 },
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: rawScalars, weight: 2 },
);

/** Key/value pairs, so the same key may appear twice (serialized as written, not through an object). */
class Pairs {
  constructor(readonly pairs: [string, unknown][]) {}
}

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'toString'];

function valueTree(fields: readonly string[]): fc.Arbitrary<unknown> {
  const key = fc.oneof(
    { arbitrary: fc.constantFrom(...(fields.length ? fields : ['x'])), weight: 6 },
    { arbitrary: fc.constantFrom(...PROTO_KEYS), weight: 2 },
    { arbitrary: hostileString.map((s) => s.slice(0, 100)), weight: 1 },
  );
  const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      { arbitrary: scalar, weight: 5 },
      { arbitrary: fc.array(tie('tree'), { maxLength: 4 }), weight: 1 },
      { arbitrary: fc.array(fc.tuple(key, tie('tree')), { maxLength: 4 }).map((p) => new Pairs(p)), weight: 2 },
    ),
  }));
  return tree;
}

export function serialize(v: unknown): string {
  if (v instanceof RawJson) return v.text;
  if (v instanceof Pairs) return `{${v.pairs.map(([k, x]) => `${JSON.stringify(k)}:${serialize(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(serialize).join(',')}]`;
  return JSON.stringify(v) ?? 'null';
}

/** A body for an endpoint whose JSON fields are `fields`: valid-looking objects most of the time, then everything else. */
export function hostileBody(fields: readonly string[], plausible: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Buffer | undefined> {
  const objectWithFields = fc
    .tuple(
      plausible,
      fc.array(fc.tuple(fc.constantFrom(...fields, ...PROTO_KEYS), valueTree(fields)), { maxLength: 3 }),
    )
    .map(([base, extra]) => serialize(new Pairs([...Object.entries(base), ...extra])));
  // Duplicate keys: the first plausible, the second hostile (or the other way round).
  const duplicateKeys = fc
    .tuple(plausible, valueTree(fields), fc.boolean())
    .map(([base, hostile, hostileFirst]) => {
      const pairs: [string, unknown][] = Object.entries(base).flatMap(([k, v]) =>
        hostileFirst ? [[k, hostile] as [string, unknown], [k, v]] : [[k, v] as [string, unknown], [k, hostile]],
      );
      return serialize(new Pairs(pairs));
    });
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 120_000 }), fc.constantFrom('[', '{"a":'))
    .map(([depth, open]) => (open === '[' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${open.repeat(depth)}1${'}'.repeat(depth)}`));
  const text = fc.oneof(
    { arbitrary: plausible.map((p) => JSON.stringify(p)), weight: 4 },
    { arbitrary: objectWithFields, weight: 6 },
    { arbitrary: duplicateKeys, weight: 2 },
    { arbitrary: valueTree(fields).map(serialize), weight: 3 },
    { arbitrary: deep, weight: 1 },
    { arbitrary: fc.constantFrom('', ' ', 'null', '{}', '[]', '{', '{"a":1,}', "{'a':1}", '\ufeff{}', '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}'), weight: 2 },
  );
  const bytes = fc.oneof(
    { arbitrary: text.map((t) => Buffer.from(t, 'utf8')), weight: 12 },
    // Invalid UTF-8 spliced into otherwise valid text: stray continuation bytes, overlong forms, encoded surrogates.
    {
      arbitrary: fc
        .tuple(text, fc.nat(), fc.constantFrom([0xff], [0xfe, 0xff], [0xc0, 0xaf], [0x80], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]))
        .map(([t, at, bad]) => {
          const b = Buffer.from(t, 'utf8');
          const i = b.length === 0 ? 0 : at % b.length;
          return Buffer.concat([b.subarray(0, i), Buffer.from(bad), b.subarray(i)]);
        }),
      weight: 2,
    },
    // Truncated anywhere.
    { arbitrary: fc.tuple(text, fc.nat()).map(([t, at]) => Buffer.from(t, 'utf8').subarray(0, at % (t.length + 1))), weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), weight: 1 },
  );
  return fc.option(bytes, { freq: 12, nil: undefined });
}

export const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 12 },
  {
    arbitrary: fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=UTF8',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'application/json;;;',
      'APPLICATION/JSON',
      'application/problem+json',
      'application/vnd.api+json',
      'application/merge-patch+json',
      'text/plain',
      'text/json',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/',
      '*/*',
      '',
    ),
    weight: 4,
  },
  { arbitrary: headerValueArb(), weight: 1 },
  { arbitrary: fc.constant(undefined), weight: 1 },
);

/** How the body is framed: right, absent, chunked, shorter or longer than declared, or a Content-Length that is not a number. */
export type Framing = 'exact' | 'chunked' | 'no-length' | 'short' | 'long' | 'garbage' | 'conflicting' | 'huge';
export const framing: fc.Arbitrary<Framing> = fc.oneof(
  { arbitrary: fc.constant<Framing>('exact'), weight: 16 },
  { arbitrary: fc.constantFrom<Framing>('chunked', 'no-length', 'short', 'long', 'garbage', 'conflicting', 'huge'), weight: 3 },
);

/** A header value Node accepts on the wire (visible ASCII, spaces and obs-text). */
export function headerValueArb(maxLength = 60): fc.Arbitrary<string> {
  return fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength });
}

export interface ExtraHeaders {
  headers: [string, string][];
  /** The request is not valid HTTP/1.1 (Node's parser answers it, not the app). */
  malformed: boolean;
}

export const extraHeaders: fc.Arbitrary<ExtraHeaders> = fc
  .tuple(
    fc.array(
      fc.tuple(
        // Idempotency-Key: the chat POST routes keep answers under it (a repeated value replays or
        // conflicts, a hostile one is 400); every other route ignores it. Last-Event-ID: the reply
        // resume reads a seq from it (anything else: the whole reply).
        fc.constantFrom('X-Request-Id', 'X-Forwarded-For', 'X-Forwarded-Proto', 'Cookie', 'Origin', 'Referer', 'Range', 'If-None-Match', 'User-Agent', 'Accept-Encoding', 'Content-Encoding', 'Accept-Language', 'X-Api-Key', 'Forwarded', 'Idempotency-Key', 'Idempotency-Key', 'Last-Event-ID'),
        fc.oneof(headerValueArb(), fc.constantFrom('req-1', '1.2.3.4, 10.0.0.1', 'gzip', '127.0.0.1', 'a'.repeat(129), 'k'.repeat(256), '"quoted-key"', '../../etc/passwd', '99999999999999999999', '00000000-0000-0000-0000-000000000000:-1', '1e9')),
      ),
      { maxLength: 3 },
    ),
    fc.oneof(
      { arbitrary: fc.constant(null), weight: 30 },
      { arbitrary: fc.constantFrom<[string, string]>(['X-Bad', 'a\u0000b'], ['X-Bad', 'a\rb'], ['Bad Name', 'x'], ['X-Big', 'b'.repeat(20_000)]), weight: 1 },
    ),
  )
  .map(([headers, bad]) => ({ headers: bad ? [...headers, bad] : headers, malformed: bad !== null }));

export const acceptHeader = fc.option(
  fc.constantFrom('application/json', 'text/event-stream', '*/*', 'text/html', 'text/event-stream;q=0, application/json', 'application/json;q=0', 'image/png', ''),
  { freq: 3, nil: undefined },
);

/** A `limit` query value: in range, out of range, not a number, repeated. */
export const limitParam = fc.oneof(
  fc.integer({ min: -5, max: 120 }).map(String),
  fc.constantFrom('', 'abc', '1e3', '0x10', '20.5', ' 20', '-0', '1'.repeat(400), 'Infinity', 'NaN', '%00', '1%00'),
  fc.double().map(String),
);

const stamp = fc
  .tuple(
    fc.integer({ min: 0, max: 9999 }),
    fc.integer({ min: 0, max: 99 }),
    fc.integer({ min: 0, max: 99 }),
    fc.integer({ min: 0, max: 99 }),
    fc.integer({ min: 0, max: 99 }),
    fc.integer({ min: 0, max: 99 }),
    fc.constantFrom('', '.5', '.123456'),
    fc.constantFrom('+00', 'Z', '+99:99', '-14', '+05:30', '+0000'),
  )
  .map(([y, mo, d, h, mi, s, f, z]) => {
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${p(y, 4)}-${p(mo)}-${p(d)} ${p(h)}:${p(mi)}:${p(s)}${f}${z}`;
  });

/** A `cursor`: garbage, or base64url of a cursor-shaped JSON whose timestamp may be out of range. */
export const cursorParam = fc.oneof(
  { arbitrary: hostileString.map((s) => s.slice(0, 600)), weight: 2 },
  {
    arbitrary: fc
      .tuple(fc.oneof(stamp, hostileString), fc.oneof(fc.uuid(), hostileString))
      .map(([at, id]) => Buffer.from(JSON.stringify([at, id])).toString('base64url')),
    weight: 4,
  },
  { arbitrary: fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? '').toString('base64url')), weight: 1 },
);

/** Percent-encodes a query value; sometimes leaves it raw-ish (only the bytes the request line cannot carry are escaped). */
export function encodeQueryValue(s: string, raw: boolean): string {
  if (!raw) return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'));
  return s.replace(/[^\x21-\x7e]|#/g, (c) => encodeURIComponent(c.replace(/[\ud800-\udfff]/g, '\ufffd')));
}

export const queryString = fc
  .record(
    {
      limit: limitParam,
      cursor: cursorParam,
      extra: fc.tuple(hostileString.map((s) => s.slice(0, 50)), hostileString.map((s) => s.slice(0, 50))),
      repeatLimit: fc.boolean(),
      raw: fc.boolean(),
    },
    { requiredKeys: ['raw', 'repeatLimit'] },
  )
  .map(({ limit, cursor, extra, repeatLimit, raw }) => {
    const parts: string[] = [];
    if (limit !== undefined) parts.push(`limit=${encodeQueryValue(limit, raw)}`);
    if (limit !== undefined && repeatLimit) parts.push('limit=5');
    if (cursor !== undefined) parts.push(`cursor=${encodeQueryValue(cursor, raw)}`);
    if (extra) parts.push(`${encodeQueryValue(extra[0], false)}=${encodeQueryValue(extra[1], false)}`);
    return parts.length ? `?${parts.join('&')}` : '';
  });

/** Which id goes into a path: one of the caller's, one of the victim's (IDOR), random or hostile. */
export type IdChoice = { kind: 'own' | 'victim'; index: number } | { kind: 'literal'; segment: string };
export const idChoice: fc.Arbitrary<IdChoice> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant<'own'>('own'), index: fc.nat(50) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant<'victim'>('victim'), index: fc.nat(50) }), weight: 3 },
  { arbitrary: fc.uuid().map((u) => ({ kind: 'literal' as const, segment: u })), weight: 2 },
  {
    arbitrary: fc
      .oneof(
        fc.constantFrom('..', '%2e%2e', '..%2f..%2fetc', '%00', '%E0%A4%A', '%', '%%', '%ZZ', 'null', '0', '-1', '00000000-0000-0000-0000-000000000000', 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', "1'%20OR%20'1'='1", 'a'.repeat(5000), '%C0%AF'),
        hostileString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd').slice(0, 300))),
      )
      .map((segment) => ({ kind: 'literal' as const, segment })),
    weight: 3,
  },
);

/** Usually undefined (the endpoint's own method); sometimes another one. */
export const otherMethod = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 15 },
  { arbitrary: fc.constantFrom('GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'POST', 'TRACE'), weight: 1 },
);

/** Plausible values so that many cases get past validation into the flows. */
export const plausibleEmail = fc.oneof(
  fc.integer({ min: 0, max: 1_000_000 }).map((n) => `fuzz-${n}@example.com`),
  fc.constantFrom('victim@example.com', 'VICTIM@example.com', ' victim@example.com', 'victim@EXAMPLE.com'),
  hostileString,
);
export const plausiblePassword = fc.oneof(
  fc.constantFrom('correct horse battery staple 42', 'Tr0ub4dor&3xyzzy-plugh', 'actor password is long enough 9'),
  hostileString.map((s) => s.slice(0, 200)),
);
