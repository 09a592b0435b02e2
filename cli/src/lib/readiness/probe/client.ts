import http from 'node:http';
import https from 'node:https';

/**
 * The probe's HTTP client: every request the active probe sends goes through here, bounded by the
 * per-request timeout and the run's abort signal (Ctrl-C), marked with the probe's User-Agent (the
 * service's audit rows record it), and counted per route so the run can report what it spent of the
 * per-IP buckets. Bodies are parsed as JSON when they are JSON; nothing is logged.
 */
export const PROBE_USER_AGENT = 'secops-readiness-probe';

export interface Answer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  json: Record<string, unknown> | undefined;
}

export interface RequestSpec {
  /** A JSON body (sent as application/json). */
  json?: unknown;
  /** A raw body with its own content type (the 415 check). */
  raw?: { contentType: string; body: string };
  token?: string;
}

export interface ProbeClient {
  send(method: string, path: string, spec?: RequestSpec): Promise<Answer>;
  /**
   * POSTs `path` declaring `declared` bytes of JSON and sends none of them: a service that refuses
   * early answers at once; one that buffers first waits for bytes that never come (undefined status
   * after the timeout).
   */
  withheldBody(path: string, declared: number, token: string): Promise<{ status: number | undefined; code: string | undefined }>;
  /** Requests sent, by `METHOD path`. */
  readonly counts: ReadonlyMap<string, number>;
}

export function createProbeClient(options: {
  url: URL;
  timeoutMs: number;
  signal: AbortSignal;
  /** Every request carries `X-Request-Id: <prefix>-<n>`: the audit rows keep it (client_request_id). */
  requestIdPrefix: string;
}): ProbeClient {
  const { url, timeoutMs, signal } = options;
  const counts = new Map<string, number>();
  let sent = 0;
  const requestId = () => `${options.requestIdPrefix}-${++sent}`;
  const count = (method: string, path: string) => counts.set(`${method} ${path}`, (counts.get(`${method} ${path}`) ?? 0) + 1);

  return {
    counts,
    async send(method, path, spec = {}) {
      signal.throwIfAborted();
      count(method, path);
      const headers: Record<string, string> = {
        'user-agent': PROBE_USER_AGENT,
        'x-request-id': requestId(),
        accept: 'application/json',
      };
      let body: string | undefined;
      if (spec.json !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(spec.json);
      } else if (spec.raw) {
        headers['content-type'] = spec.raw.contentType;
        body = spec.raw.body;
      }
      if (spec.token) headers.authorization = `Bearer ${spec.token}`;
      const res = await fetch(new URL(path, url), {
        method,
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
      const text = await res.text();
      let json: Record<string, unknown> | undefined;
      try {
        const parsed: unknown = text ? JSON.parse(text) : undefined;
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, json };
    },
    withheldBody(path, declared, token) {
      signal.throwIfAborted();
      count('POST', path);
      const target = new URL(path, url);
      const client = target.protocol === 'https:' ? https : http;
      return new Promise((resolve, reject) => {
        let settled = false;
        const done = (fn: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          req.destroy();
          fn();
        };
        const onAbort = () => done(() => reject(signal.reason));
        const req = client.request(target, {
          method: 'POST',
          headers: {
            'user-agent': PROBE_USER_AGENT,
            'x-request-id': requestId(),
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': String(declared),
          },
        });
        const timer = setTimeout(() => done(() => resolve({ status: undefined, code: undefined })), timeoutMs);
        signal.addEventListener('abort', onAbort, { once: true });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            let code: string | undefined;
            try {
              const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown };
              code = typeof parsed.code === 'string' ? parsed.code : undefined;
            } catch {
              code = undefined;
            }
            done(() => resolve({ status: res.statusCode, code }));
          });
          res.on('error', () => done(() => resolve({ status: res.statusCode, code: undefined })));
        });
        req.on('error', (err) => done(() => reject(err)));
        req.flushHeaders();
      });
    },
  };
}

/** `code` of a problem+json answer, for evidence. */
export const codeOf = (a: Answer): string | undefined => (typeof a.json?.code === 'string' ? a.json.code : undefined);

/** `→ 400 invalid_email` style evidence of one answer (never a token: only the status and the problem code). */
export const shownAnswer = (a: Answer): string => {
  const code = codeOf(a);
  return `${a.status}${code ? ` ${code}` : ''}`;
};

/** A RateLimit-Policy value `"name";q=N;w=S` (the first policy of the header). */
export interface Policy {
  name: string;
  quota: number;
  windowSeconds: number;
}

export function parsePolicy(value: string | null): Policy | undefined {
  const m = value?.match(/^\s*"([^"]+)"\s*;\s*q=(\d+)\s*;\s*w=(\d+)/);
  if (!m) return undefined;
  return { name: m[1] as string, quota: Number(m[2]), windowSeconds: Number(m[3]) };
}
