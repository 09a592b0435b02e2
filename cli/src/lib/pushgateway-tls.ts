import { parseAllowPlaintext } from '../../../service/src/public/config.js';
import { ConfigurationError } from './errors.js';

/**
 * TLS on the secops → Pushgateway hop (issue 25, ASVS 12.3.1): with NODE_ENV=production a
 * `--pushgateway` URL must be https:// unless ALLOW_PLAINTEXT names `pushgateway`, as the service's
 * own hops must. Checked before the command does any work, so a drill never runs only to find it
 * cannot report. Returns the warning to print when the operator allowed plaintext.
 */
export function checkPushgatewayUrl(
  url: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if (url === undefined || /^https:\/\//i.test(url) || env.NODE_ENV !== 'production') return undefined;
  if (!parseAllowPlaintext(env.ALLOW_PLAINTEXT).has('pushgateway'))
    throw new ConfigurationError([
      '--pushgateway is not an https:// URL; production requires TLS on this hop (or ALLOW_PLAINTEXT=pushgateway to accept plaintext)',
    ]);
  return 'ALLOW_PLAINTEXT lists pushgateway: the drill and archive metrics go to the Pushgateway in plaintext';
}
