import autocannon from 'autocannon';

export interface LoadResult {
  /** Successful (2xx) responses per second. */
  rate: number;
  latencies: number[];
  /** Non-2xx responses, errors and timeouts. */
  errors: number;
  seconds: number;
}

/** One request of a run; `setupRequest`/`onResponse` get a per-connection context (autocannon's). */
export type LoadRequest = autocannon.Request;

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Requests cycled through by every connection. */
  requests: LoadRequest[];
  /** Per-request timeout in seconds (autocannon's default is 10). */
  timeout?: number;
}

/**
 * A bounded autocannon run (its HTTP client costs far less CPU than fetch, which matters when the
 * load generator shares the machine's two cores with the service). Latency of every response is
 * kept so percentiles are exact, not autocannon's fixed set.
 */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const latencies: number[] = [];
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.seconds,
        requests: options.requests,
        timeout: options.timeout,
      },
      (err, result) => {
        if (err) return reject(err);
        const ok = result['2xx'];
        resolve({
          rate: ok / (result.duration || options.seconds),
          latencies,
          errors: result.non2xx + result.errors + result.timeouts,
          seconds: result.duration,
        });
      },
    );
    instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTime: number) => {
      latencies.push(responseTime);
    });
  });
}

/** JSON request headers, with a bearer token when given. */
export function jsonHeaders(token?: string): Record<string, string> {
  return { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

/** One JSON request with fetch (setup work, not measured). */
export async function callJson(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: jsonHeaders(token),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

/** Sequential GETs, one at a time with a 5 ms pause, for `ms`: the latency a light client sees. */
export async function probe(url: string, ms: number, token?: string): Promise<number[]> {
  const headers = token ? { authorization: `Bearer ${token}` } : undefined;
  const out: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    out.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 5));
  }
  return out;
}
