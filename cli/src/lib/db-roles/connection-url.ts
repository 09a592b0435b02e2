import { CliError } from '../errors.js';

/**
 * The stored connection string, as a URL: `postgres://user:password@host:port/db?options`. The user
 * names the active role of the pair; rotation swaps user and password and keeps everything else.
 */
export function parseConnectionUrl(text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text.trim());
  } catch {
    url = undefined;
  }
  // Never echo the text: it holds a password.
  if (!url || !/^postgres(ql)?:$/.test(url.protocol) || !url.hostname) {
    throw new CliError('the stored value is not a postgres:// connection URL with a host (value not shown)', {
      code: 'invalid_stored_url',
    });
  }
  return url;
}

export function urlUser(url: URL): string {
  return decodeURIComponent(url.username);
}

/** The same URL with another user and password (percent-encoded as URL userinfo requires). */
export function withCredentials(url: URL, user: string, password: string): string {
  const next = new URL(url.href);
  next.username = encodeURIComponent(user);
  next.password = encodeURIComponent(password);
  // A password in the query string would override the new one.
  next.searchParams.delete('password');
  next.searchParams.delete('user');
  return next.href;
}

/** The URL without any secret, fit for output: `postgres://user@host:port/db` (query options dropped). */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
}
