import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type ApiTarget, api } from './client.js';

/** A password every policy check accepts (zxcvbn 4, not on the blocklist): the tests' one constant. */
export const TEST_PASSWORD = 'correct horse battery staple 42';

let counter = 0;

/** An address no other test (file, process or run) uses: tests in one file share no accounts. */
export function uniqueEmail(tag = 'user'): string {
  counter += 1;
  return `${tag}${counter}.${process.pid}.${randomBytes(3).toString('hex')}@example.com`;
}

export interface SignedUpUser {
  email: string;
  password: string;
  user: { id: string; email: string; created_at: string };
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/**
 * A fresh account on the service at `target` (a TestApp in process or listening, a spawned service, or
 * a base URL): signs up through the API (checked against the OpenAPI document like every call) and
 * returns the credentials with the token pair. Fails the test unless the signup answered 201.
 */
export async function signedUpUser(
  target: ApiTarget,
  options: { email?: string; password?: string; tag?: string } = {},
): Promise<SignedUpUser> {
  const email = options.email ?? uniqueEmail(options.tag);
  const password = options.password ?? TEST_PASSWORD;
  const res = await api(target, 'POST', '/v1/auth/signup', { json: { email, password } });
  assert.equal(res.status, 201, res.text);
  return { email, password, ...res.body };
}
