import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/** What psql's `\password` and libpq's PQencryptPasswordConn use (PostgreSQL's scram_iterations default). */
export const SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores in pg_authid.rolpassword (RFC 5802 §3, RFC 7677):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, all base64. Computed on the client so
 * that `ALTER ROLE … PASSWORD '<verifier>'` never carries the plaintext to the server (or its logs).
 *
 * Only printable ASCII passwords are accepted: for those SASLprep (RFC 4013) is the identity, so the
 * verifier is exactly what the server would have derived; the rotation generates base64url ones.
 */
export function scramSha256Verifier(password: string, options: { salt?: Buffer; iterations?: number } = {}): string {
  if (!/^[\x20-\x7e]+$/.test(password)) throw new RangeError('SCRAM verifier: the password must be non-empty printable ASCII');
  const salt = options.salt ?? randomBytes(SALT_BYTES);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1)
    throw new RangeError(`SCRAM verifier: invalid iteration count ${iterations}`);
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** A fresh database password: 32 random bytes, base64url (43 characters, no quoting needed anywhere). */
export function generateDatabasePassword(bytes = 32): string {
  if (bytes < 32) throw new RangeError('a database password needs at least 32 random bytes');
  return randomBytes(bytes).toString('base64url');
}
