import { setTimeout as delay } from 'node:timers/promises';
import { failed, judged } from './checks.js';
import { type Answer, codeOf, shownAnswer } from './client.js';
import { check, LOCKOUT_ATTEMPTS, loginBody, type Pair, pairOf, type Run } from './run.js';

/** Sessions: refresh rotation and reuse, logout, the lockout and the owner's device. */

export async function refreshRotation(run: Run): Promise<void> {
  const old = (run.second as Pair).refresh;
  await check(run, 'probe.refresh-rotation', async () => {
    const a = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: old } });
    const next = pairOf(a);
    if (a.status !== 200 || !next)
      return failed('probe.refresh-rotation', `POST /v1/auth/refresh → ${shownAnswer(a)}, no new pair`);
    run.rotated = { at: Date.now(), old, successor: next.refresh };
    if (next.refresh === old)
      return failed('probe.refresh-rotation', 'POST /v1/auth/refresh → 200 with the same refresh token: not rotated');
    const retry = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: old } });
    const again = pairOf(retry);
    const grace = run.options.refreshReuseGraceSeconds ?? 10;
    // Within the grace window a retry gets the same successor (a lost answer); with no grace it is reuse at once.
    const sameSuccessor = retry.status === 200 && again?.refresh === next.refresh;
    const refusedAtOnce = grace === 0 && retry.status === 401;
    const seen =
      retry.status === 200 ? (sameSuccessor ? 'the same successor' : 'a different refresh token (a fork)') : shownAnswer(retry);
    const evidence = `POST /v1/auth/refresh → 200 with a new pair (refresh token changed); the old token again at once (grace ${grace} s) → ${retry.status}, ${seen}`;
    return judged(sameSuccessor || refusedAtOnce, 'probe.refresh-rotation', evidence);
  });
}

export async function logout(run: Run): Promise<void> {
  await check(run, 'probe.logout', async () => {
    const session = run.first;
    if (!session) return failed('probe.logout', 'no session from the signup or the verification to end');
    const out = await run.client.send('POST', '/v1/auth/logout', { json: { refresh_token: session.refresh } });
    const after = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: session.refresh } });
    const evidence = `POST /v1/auth/logout → ${shownAnswer(out)}; its refresh token then → ${shownAnswer(after)}`;
    return judged(out.status === 204 && after.status === 401, 'probe.logout', evidence);
  });
}

export async function lockout(run: Run): Promise<void> {
  await check(run, 'probe.lockout', async () => {
    const seen: string[] = [];
    let locked: Answer | undefined;
    for (let i = 1; i <= LOCKOUT_ATTEMPTS && !locked; i++) {
      const a = await run.client.send('POST', '/v1/auth/login', loginBody(run, run.id.wrongPassword));
      if (a.status === 429) locked = a;
      else if (a.status !== 401)
        return failed('probe.lockout', `wrong password ${i} → ${shownAnswer(a)} (expected 401 invalid_credentials)`);
      else run.wrongAttempts += 1;
      seen.push(shownAnswer(a));
    }
    let lockSeen = `${seen.length} wrong password(s) without a device token → ${seen.join(', ')}`;
    if (!locked) {
      // While locked even the right password is refused.
      const right = await run.client.send('POST', '/v1/auth/login', loginBody(run, run.password as string));
      lockSeen += `; the right password without a device token → ${shownAnswer(right)}`;
      if (right.status !== 429) {
        return failed(
          'probe.lockout',
          `${lockSeen}: no lock after ${LOCKOUT_ATTEMPTS} failures (LOGIN_MAX_FAILURES above the documented 5, or the lockout is off)`,
        );
      }
      locked = right;
    }
    const lockedAt = Date.now();
    const retryAfter = locked.headers.get('retry-after');
    const lockedOk =
      codeOf(locked) === 'too_many_attempts' && retryAfter !== null && /^\d+$/.test(retryAfter) && Number(retryAfter) >= 1;
    lockSeen += ` (Retry-After: ${retryAfter ?? 'absent'})`;
    if (!run.device) return failed('probe.lockout', `${lockSeen}; no device token from the signup, verification or login to try`);
    // Sent while the lock holds (Retry-After from the refusal), or it proves nothing about devices.
    const sentAfter = Date.now() - lockedAt;
    const owner = await run.client.send('POST', '/v1/auth/login', loginBody(run, run.password as string, run.device));
    const withinLock = retryAfter !== null && sentAfter < Number(retryAfter) * 1000;
    const signedIn = owner.status === 200 && (pairOf(owner) !== undefined || owner.json?.mfa_required === true);
    const mfaNext = owner.json?.mfa_required === true ? ' mfa_required (the second factor is next)' : '';
    const lapsed = withinLock
      ? ''
      : ' — sent after the lock’s Retry-After: it proves nothing about the device; rerun from closer to the service';
    const evidence = `${lockSeen}; the right password with the probe’s device token, sent ${sentAfter} ms later → ${shownAnswer(owner)}${mfaNext}${lapsed}`;
    return judged(lockedOk && signedIn && withinLock, 'probe.lockout', evidence);
  });
}

export async function refreshReuse(run: Run): Promise<void> {
  await check(run, 'probe.refresh-reuse', async () => {
    const rotated = run.rotated;
    if (!rotated) return failed('probe.refresh-reuse', 'no rotated refresh token (probe.refresh-rotation failed)');
    const grace = run.options.refreshReuseGraceSeconds ?? 10;
    // The service's grace window, not a timer of ours: the old token is reuse only once it has passed.
    const wait = rotated.at + (grace + 1) * 1000 - Date.now();
    if (wait > 0) await delay(wait, undefined, { signal: run.signal });
    const reused = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: rotated.old } });
    const successor = await run.client.send('POST', '/v1/auth/refresh', { json: { refresh_token: rotated.successor } });
    const evidence = `${grace + 1} s after the rotation, the old refresh token → ${shownAnswer(reused)}; its successor then → ${shownAnswer(successor)}`;
    return judged(
      reused.status === 401 && codeOf(reused) === 'refresh_token_reused' && successor.status === 401,
      'probe.refresh-reuse',
      evidence,
    );
  });
}
