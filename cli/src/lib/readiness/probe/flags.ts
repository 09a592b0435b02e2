import { UsageError } from '../../errors.js';

/** `--probe-account` and `--probe-domain` (a host name the service's address validation accepts) as options. */
export function probeFlags(flags: { probeAccount?: boolean; probeDomain?: string }): {
  probeAccount: boolean;
  probeDomain?: string;
} {
  if (flags.probeDomain !== undefined && flags.probeAccount !== true)
    throw new UsageError('--probe-domain needs --probe-account');
  if (
    flags.probeDomain !== undefined &&
    !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(flags.probeDomain)
  ) {
    throw new UsageError(`--probe-domain: not a domain name: ${flags.probeDomain}`);
  }
  return { probeAccount: flags.probeAccount === true, probeDomain: flags.probeDomain };
}
