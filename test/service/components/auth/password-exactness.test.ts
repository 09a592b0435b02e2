/**
 * The password is checked exactly as the user gave it (ASVS 5.0 6.2.5, 6.2.8, 6.2.9, 6.2.10): NFKC is
 * the one transformation — no trimming, no case folding, no truncation, no dropped emoji — and it stays
 * valid until the user changes it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fakeClock, type FakeClock, type InProcessTestApp, startTestApp } from '../../../helpers/app.js';
import { api } from '../../../helpers/client.js';
import { signedUpUser } from '../../../helpers/users.js';

describe('the password is used exactly as received (after NFKC)', () => {
  let t: InProcessTestApp;
  let clock: FakeClock;
  before(async () => {
    clock = fakeClock();
    // Many wrong passwords in a row on purpose: no lockout may hide the answer to the next one.
    t = await startTestApp({ clock, env: { LOGIN_MAX_FAILURES: '1000', LOGIN_ACCOUNT_MAX_FAILURES_PER_HOUR: '100' } });
  });
  after(() => t.close());

  const login = async (email: string, password: string) =>
    (await api(t, 'POST', '/v1/auth/login', { json: { email, password } })).status;

  it('signs in only with the password exactly as it was set: case, spaces and emoji all count', async () => {
    const password = '  Grüne Äpfel 🦄 unter  dem Mond  ';
    const { email } = await signedUpUser(t, { password });
    assert.equal(await login(email, password), 200);
    for (const variant of [
      password.trim(),
      password.trimStart(),
      password.trimEnd(),
      password.toLowerCase(),
      password.toUpperCase(),
      password.replace('🦄', ''),
      password.replace('🦄', '🐴'),
      password.replace('  dem', ' dem'),
      password.replaceAll(' ', ''),
      password.slice(0, -1),
      `${password} `,
      password.replace('ü', 'u'),
    ]) {
      assert.equal(await login(email, variant), 401, JSON.stringify(variant));
    }
    assert.equal(await login(email, password), 200, 'the right password still works after the wrong ones');
  });

  it('a password of 128 characters is accepted and must be given whole', async () => {
    const password = Array.from({ length: 8 }, (_, i) => `${i}:piano-Lumen-${i * 7}!`)
      .join('')
      .padEnd(128, 'q')
      .slice(0, 128);
    assert.equal([...password].length, 128);
    const { email } = await signedUpUser(t, { password });
    assert.equal(await login(email, password), 200);
    for (const cut of [64, 72, 100, 127])
      assert.equal(await login(email, password.slice(0, cut)), 401, `the first ${cut} characters`);
    assert.equal(await login(email, `${password.slice(0, 127)}x`), 401, 'the last character counts');
  });

  it('a decomposed and a composed accent are the same password (NFKC), nothing else is folded', async () => {
    const composed = 'Crème brûlée au café, s\u2019il vous plaît';
    const decomposed = composed.normalize('NFD');
    assert.notEqual(decomposed, composed);
    const { email } = await signedUpUser(t, { password: decomposed });
    assert.equal(await login(email, composed), 200);
    assert.equal(await login(email, decomposed), 200);
    assert.equal(
      await login(email, composed.normalize('NFD').replace(/\p{M}/gu, '')),
      401,
      'accents stripped is another password',
    );
  });

  it('a password stays valid a year later: no periodic rotation', async () => {
    const { email, password } = await signedUpUser(t);
    clock.advance(400 * 24 * 3600 * 1000);
    const res = await api(t, 'POST', '/v1/auth/login', { json: { email, password } });
    assert.equal(res.status, 200);
    assert.equal(typeof res.body.access_token, 'string');
    assert.equal((await api(t, 'GET', '/v1/me', { token: res.body.access_token })).status, 200);
  });
});
