import type { Middleware } from 'koa';
import helmet from 'koa-helmet';
import compose from 'koa-compose';

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
  const extra: Middleware = async (ctx, next) => {
    ctx.set('Permissions-Policy', PERMISSIONS_POLICY);
    ctx.set('Cache-Control', 'no-store');
    await next();
  };
  return compose([helmetMiddleware, extra]);
}
