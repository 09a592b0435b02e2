/**
 * npm run bench:token-sign — what signing one access token costs, with the service's signer
 * (service/src/components/auth/jws-sign.ts, node:crypto) against jose's SignJWT (WebCrypto), which
 * signed them before: HS256 and EdDSA, the same header and claims, in the same run.
 *
 * Method. One process, one token at a time (each awaited, as a request does), BENCH_TOKENS tokens per
 * arm (default 3 000) after 300 of warm-up, the arms alternated BENCH_ROUNDS times (default 3). CPU is
 * the process's (all threads: WebCrypto hands its work to libuv's thread pool) per token, from
 * process.cpuUsage; wall time beside it. The ratio is jose's CPU per token ÷ the signer's (medians of
 * the rounds). Printed only; nothing is written to results/.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { SignJWT } from 'jose';
import {
  initialDocument,
  type JwtAlgorithm,
  type Keyring,
  keyringFromDocument,
  keyringFromSecret,
  serializeKeysDocument,
  signCompactJws,
} from '../service/src/public/auth.js';
import { envInt } from './lib/env.js';
import { fmt, median, table } from './lib/stats.js';

const TOKENS = envInt('BENCH_TOKENS', 3000);
const ROUNDS = envInt('BENCH_ROUNDS', 3);

/** The claims access-tokens.ts issues, fresh ids each time. */
function claims(now: number) {
  return {
    sid: randomUUID(),
    auth_time: now,
    amr: ['pwd'],
    iss: 'https://rampart.bench',
    aud: 'rampart',
    sub: randomUUID(),
    jti: randomUUID(),
    iat: now,
    exp: now + 900,
  };
}

async function measure(sign: () => Promise<string> | string): Promise<{ cpuUs: number; wallUs: number }> {
  for (let i = 0; i < 300; i += 1) await sign();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < TOKENS; i += 1) await sign();
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / TOKENS, wallUs: ((performance.now() - start) * 1000) / TOKENS };
}

const rings: Record<JwtAlgorithm, Keyring> = {
  HS256: await keyringFromSecret(new Uint8Array(64).fill(9)),
  EdDSA: await keyringFromDocument(serializeKeysDocument(await initialDocument({ alg: 'EdDSA', now: new Date() }))),
};
// jose signs with the WebCrypto form of the same key, as the keyring held it before.
const joseKeys: Record<JwtAlgorithm, CryptoKey> = {
  HS256: rings.HS256.signing.signKey?.toCryptoKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']) as CryptoKey,
  EdDSA: rings.EdDSA.signing.signKey?.toCryptoKey('Ed25519', false, ['sign']) as CryptoKey,
};

const rows: (string | number)[][] = [];
console.error(
  `token signing: ${TOKENS} tokens per arm, ${ROUNDS} rounds alternated; Node ${process.version}, ${availableParallelism()} CPUs`,
);
for (const alg of ['HS256', 'EdDSA'] as const) {
  const { signing } = rings[alg];
  const header = { alg, typ: 'at+jwt', kid: signing.kid };
  const now = Math.floor(Date.now() / 1000);
  const ours = { cpu: [] as number[], wall: [] as number[] };
  const jose = { cpu: [] as number[], wall: [] as number[] };
  for (let round = 0; round < ROUNDS; round += 1) {
    const a = await measure(() => signCompactJws(signing.signKey as NonNullable<typeof signing.signKey>, header, claims(now)));
    ours.cpu.push(a.cpuUs);
    ours.wall.push(a.wallUs);
    const b = await measure(() => new SignJWT(claims(now)).setProtectedHeader(header).sign(joseKeys[alg]));
    jose.cpu.push(b.cpuUs);
    jose.wall.push(b.wallUs);
  }
  rows.push(
    [`${alg}: jose SignJWT (WebCrypto)`, fmt(median(jose.cpu), 1), fmt(median(jose.wall), 1), ''],
    [
      `${alg}: jws-sign (node:crypto)`,
      fmt(median(ours.cpu), 1),
      fmt(median(ours.wall), 1),
      `${fmt(median(jose.cpu) / median(ours.cpu), 2)}×`,
    ],
  );
}
console.log(table(['signer', 'CPU µs/token', 'wall µs/token', 'jose CPU ÷ this'], rows));
