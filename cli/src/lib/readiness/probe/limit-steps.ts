import { failed, judged, passed } from './checks.js';
import { type Answer, codeOf, parsePolicy, shownAnswer } from './client.js';
import { check, type Pair, type Run, USER_LIMIT_READS } from './run.js';

/** The request limits and refusals: per-user and per-endpoint RateLimit policies, 415, 413. */

/** The policy a response names, for evidence. */
const policyText = (a: Answer | undefined) => a?.headers.get('ratelimit-policy') ?? 'no RateLimit-Policy';

export async function userLimits(run: Run): Promise<void> {
  const token = (run.second as Pair).access;
  await check(run, 'probe.user-limits', async () => {
    // A conversation of the probe's, so the cleanup shows conversations go with the account.
    const created = await run.client.send('POST', '/v1/conversations', { token, json: { title: 'readiness probe' } });
    if (created.status !== 201) return failed('probe.user-limits', `POST /v1/conversations → ${shownAnswer(created)}`);
    // The headers name the bucket closest to its limit: the per-user one shows once this user's share of
    // it exceeds the client address's share of the per-IP bucket. A few reads get there; bounded.
    let last: Answer | undefined;
    for (let n = 1; n <= USER_LIMIT_READS; n++) {
      const read = await run.client.send('GET', '/v1/me', { token });
      run.firstRead ??= read;
      last = read;
      if (read.status !== 200) return failed('probe.user-limits', `GET /v1/me → ${shownAnswer(read)}`);
      const policy = parsePolicy(read.headers.get('ratelimit-policy'));
      if (policy?.name === 'user') {
        return passed(
          'probe.user-limits',
          `GET /v1/me (read ${n}) → 200, RateLimit-Policy: ${policyText(read)}, RateLimit: ${read.headers.get('ratelimit') ?? 'absent'}`,
        );
      }
      if (!policy) return failed('probe.user-limits', 'GET /v1/me → 200 without a RateLimit-Policy header');
    }
    return failed(
      'probe.user-limits',
      `${USER_LIMIT_READS} GET /v1/me never named a "user" bucket (the last: RateLimit-Policy ${policyText(last)}, RateLimit ${last?.headers.get('ratelimit') ?? 'absent'}): no per-user limit, or this address's per-IP bucket is busier than ${USER_LIMIT_READS} reads can overtake; rerun in a minute or from a quieter address`,
    );
  });
}

export async function endpointLimits(run: Run): Promise<void> {
  await check(run, 'probe.endpoint-limits', async () => {
    const auth = parsePolicy(run.loginAnswer?.headers.get('ratelimit-policy') ?? null);
    const read = parsePolicy(run.firstRead?.headers.get('ratelimit-policy') ?? null);
    const rate = (p: { quota: number; windowSeconds: number }) => p.quota / p.windowSeconds;
    const shown = (p: ReturnType<typeof parsePolicy>) =>
      p ? `"${p.name}";q=${p.quota};w=${p.windowSeconds} (${rate(p).toFixed(2)}/s)` : 'absent';
    const evidence = `POST /v1/auth/login RateLimit-Policy ${shown(auth)}; GET /v1/me ${shown(read)}`;
    return judged(auth !== undefined && read !== undefined && rate(auth) < rate(read), 'probe.endpoint-limits', evidence);
  });
}

export async function contentType(run: Run): Promise<void> {
  const token = (run.second as Pair).access;
  await check(run, 'probe.content-type', async () => {
    const a = await run.client.send('POST', '/v1/conversations', {
      token,
      raw: { contentType: 'text/plain', body: '{"title":"readiness probe"}' },
    });
    const type = a.headers.get('content-type') ?? 'no content-type';
    const evidence = `POST /v1/conversations (authenticated) text/plain → ${shownAnswer(a)}, ${type}`;
    return judged(
      a.status === 415 && codeOf(a) === 'unsupported_media_type' && type.startsWith('application/problem+json'),
      'probe.content-type',
      evidence,
    );
  });
}

export async function bodyLimit(run: Run): Promise<void> {
  const token = (run.second as Pair).access;
  const limit = run.options.maxRequestSizeBytes ?? 262_144;
  await check(run, 'probe.body-limit', async () => {
    const declared = limit + 1;
    const a = await run.client.withheldBody('/v1/conversations', declared, token);
    if (a.status === undefined) {
      return failed(
        'probe.body-limit',
        `POST /v1/conversations with Content-Length ${declared}, no body sent: no answer within ${run.options.timeoutMs} ms (the service waits for the body: the limit is above ${limit}, or it buffers first)`,
      );
    }
    const evidence = `POST /v1/conversations with Content-Length ${declared} (MAX_REQUEST_SIZE_BYTES ${limit} + 1), no body sent → ${a.status}${a.code ? ` ${a.code}` : ''}`;
    return judged(a.status === 413 && a.code === 'payload_too_large', 'probe.body-limit', evidence);
  });
}
