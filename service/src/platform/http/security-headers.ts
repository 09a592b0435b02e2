import type { Middleware } from 'koa';
import helmet from 'koa-helmet';

/** Every feature the Permissions-Policy header denies (docs/api.md: "denying every feature"). */
const DENIED_FEATURES = [
  'accelerometer',
  'autoplay',
  'bluetooth',
  'camera',
  'display-capture',
  'encrypted-media',
  'fullscreen',
  'geolocation',
  'gyroscope',
  'hid',
  'idle-detection',
  'magnetometer',
  'microphone',
  'midi',
  'payment',
  'picture-in-picture',
  'publickey-credentials-get',
  'screen-wake-lock',
  'serial',
  'usb',
  'web-share',
  'xr-spatial-tracking',
];

export const PERMISSIONS_POLICY = DENIED_FEATURES.map((f) => `${f}=()`).join(', ');

/**
 * The security headers of docs/api.md on every response, errors included: helmet for what it knows,
 * plus Permissions-Policy and Cache-Control (an API response is never cacheable).
 */
export function securityHeaders(): Middleware {
  const helmetMiddleware = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true, preload: true },
    xFrameOptions: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginEmbedderPolicy: false,
    xPoweredBy: true,
  }) as Middleware;
  // With this configuration helmet's headers depend on nothing in the request (no nonce, no directive
  // computed per request): they are what one run of helmet sets, recorded here once, and written from
  // that list on every response — helmet's promise and its dozen calls per request cost more than the
  // list does.
  const { set, removed } = headersHelmetSets(helmetMiddleware);
  set.push(['Permissions-Policy', PERMISSIONS_POLICY], ['Cache-Control', 'no-store']);
  return async (ctx, next) => {
    for (const [name, value] of set) ctx.res.setHeader(name, value);
    for (const name of removed) ctx.res.removeHeader(name);
    await next();
  };
}

/** The headers helmet sets and removes, from running it once against a response that records them. */
function headersHelmetSets(helmetMiddleware: Middleware): { set: [string, string | string[]][]; removed: string[] } {
  const set: [string, string | string[]][] = [];
  const removed: string[] = [];
  const res = {
    setHeader: (name: string, value: string | string[]) => set.push([name, value]),
    removeHeader: (name: string) => removed.push(name),
  };
  // helmet runs its middlewares synchronously: every header is recorded before this call returns.
  void helmetMiddleware({ req: { headers: {} }, res } as unknown as Parameters<Middleware>[0], async () => undefined);
  if (set.length === 0) throw new Error('helmet set no header when recorded: security headers would be missing');
  return { set, removed };
}
