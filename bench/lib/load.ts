import autocannon from 'autocannon';

export interface LoadResult {
  /** Successful (2xx) responses per second. */
  rate: number;
  latencies: number[];
  /** Non-2xx responses, errors and timeouts. */
  errors: number;
  seconds: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  /** Requests cycled through by every connection. */
  requests: { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string }[];
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
      { url: options.url, connections: options.connections, duration: options.seconds, requests: options.requests },
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
