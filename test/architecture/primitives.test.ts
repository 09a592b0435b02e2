/**
 * What the code may use for cryptography and for starting processes (ASVS 5.0 1.2.5, 11.2.1, 11.3.x,
 * 11.4.1): primitives only from node:crypto (OpenSSL) and the vetted libraries, with approved
 * algorithms named at the call; child processes only with argument arrays, never through a shell.
 * Each scan is shown to catch a planted line first.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { sourceFiles } from '../helpers/source-files.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SOURCES = ['service', 'cli', 'bin', 'migrations', 'scripts'];

const sources = () =>
  SOURCES.flatMap((dir) => sourceFiles(join(ROOT, dir))).map((path) => ({
    path: relative(ROOT, path),
    text: readFileSync(path, 'utf8'),
  }));

// ---- cryptography -------------------------------------------------------------------------------------

/** Cryptographic packages allowed as dependencies; any other known one is refused. */
const CRYPTO_LIBRARIES = ['jose', '@node-rs/argon2', 'otplib', '@simplewebauthn/server'];
const OTHER_CRYPTO =
  /^(crypto-js|bcrypt|bcryptjs|tweetnacl|tweetnacl-util|node-forge|elliptic|jsonwebtoken|jsrsasign|md5|sha\.js|sha1|js-sha\d+|scrypt-js|@noble\/.*|@stablelib\/.*|libsodium.*|sodium-native|secp256k1|pbkdf2)$/;
const HASHES = new Set(['sha256', 'sha384', 'sha512']);
const CIPHERS = new Set(['aes-256-gcm']);

function cryptoFindings(text: string): string[] {
  const found: string[] = [];
  const constants = new Map(
    [...text.matchAll(/\b(?:const|let)\s+([A-Z_][A-Z0-9_]*)\s*=\s*['"]([\w-]+)['"]/g)].map((m) => [m[1], m[2]]),
  );
  const literalOf = (arg: string) => (/^['"]/.test(arg) ? arg.slice(1, -1) : constants.get(arg));
  for (const m of text.matchAll(/\bcreate(Hash|Hmac|Cipheriv|Decipheriv)\(\s*([^,)\s]+)/g)) {
    const algorithm = literalOf(m[2] ?? '');
    const allowed = m[1] === 'Hash' || m[1] === 'Hmac' ? HASHES : CIPHERS;
    if (!algorithm || !allowed.has(algorithm.toLowerCase())) found.push(`create${m[1]}(${m[2]})`);
  }
  // The digest is the call's last argument (the line's last string).
  for (const line of text.split('\n').filter((l) => /\bpbkdf2(?:Sync)?\(/.test(l))) {
    const digest = [...line.matchAll(/['"]([\w-]+)['"]/g)].at(-1)?.[1];
    if (!digest || !HASHES.has(digest)) found.push(`pbkdf2 with ${digest ?? 'an unnamed digest'}`);
  }
  for (const m of text.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const name = m[1] ?? m[2];
    if (name && OTHER_CRYPTO.test(name)) found.push(`imports ${name}`);
  }
  return found;
}

// ---- processes ----------------------------------------------------------------------------------------

function processFindings(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*['"](?:node:)?child_process['"]/g)) {
    for (const name of (m[1] ?? '').split(',').map((s) => s.trim().split(/\s+as\s+/)[0])) {
      if (name && !['spawn', 'spawnSync', 'execFile', 'execFileSync', 'type ChildProcess', 'ChildProcess'].includes(name))
        found.push(`imports ${name}`);
    }
  }
  if (
    /import\s+\*\s+as\s+\w+\s+from\s*['"](?:node:)?child_process['"]|import\s+\w+\s+from\s*['"](?:node:)?child_process['"]/.test(
      text,
    )
  )
    found.push('imports child_process whole');
  if (/\bshell\s*:\s*(?!false\b)/.test(text)) found.push('a shell option');
  return found;
}

describe('primitives the code may use', () => {
  it('cryptography comes from node:crypto and the vetted libraries, with approved algorithms named at each call', () => {
    for (const planted of [
      "createHash('md5')",
      "createHash('sha1')",
      "createHmac('sha1', key)",
      "createCipheriv('aes-128-ecb', key, null)",
      "createCipheriv('aes-256-cbc', key, iv)",
      "const ALG = 'des-ede3';\ncreateCipheriv(ALG, key, iv)",
      'createHash(algorithmFromInput)',
      "pbkdf2Sync(p, s, 1000, 32, 'sha1')",
      "import CryptoJS from 'crypto-js';",
      "const bcrypt = require('bcryptjs');",
    ]) {
      assert.ok(cryptoFindings(planted).length > 0, `the scan catches: ${planted}`);
    }
    assert.deepEqual(
      cryptoFindings(
        "const ALGORITHM = 'aes-256-gcm';\ncreateCipheriv(ALGORITHM, key, iv); createHash('sha256'); createHmac('sha256', k)",
      ),
      [],
    );

    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }))
      assert.doesNotMatch(name, OTHER_CRYPTO, `dependency ${name}`);
    for (const name of CRYPTO_LIBRARIES) assert.ok(pkg.dependencies[name], `${name} is the vetted library in use`);

    const all = sources();
    assert.ok(all.length > 100);
    assert.deepEqual(
      all.flatMap(({ path, text }) => cryptoFindings(text).map((f) => `${path}: ${f}`)),
      [],
    );
  });

  it('the service and the CLI start processes only with argument arrays: no exec, execSync or shell option', () => {
    for (const planted of [
      "import { exec } from 'node:child_process';",
      "import { execSync, spawn } from 'child_process';",
      "import * as cp from 'node:child_process';",
      "spawn('pg_dump', args, { shell: true })",
      'spawn(cmd, [], { shell: "/bin/sh" })',
    ]) {
      assert.ok(processFindings(planted).length > 0, `the scan catches: ${planted}`);
    }
    assert.deepEqual(
      processFindings(
        "import { spawn, execFile } from 'node:child_process';\nspawn('pg_dump', ['--dbname', url], { stdio: 'pipe' });",
      ),
      [],
    );

    const all = sources();
    const users = all.filter(({ text }) => /child_process/.test(text));
    assert.ok(users.length >= 3, 'the scan sees the modules that start processes');
    assert.deepEqual(
      all.flatMap(({ path, text }) => processFindings(text).map((f) => `${path}: ${f}`)),
      [],
    );
  });
});
