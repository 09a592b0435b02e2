/**
 * ALLOW_PLAINTEXT (settings.ts): the hops production may use without TLS. Read by the configuration
 * check (config/load.ts), by the secret stores before any request (secrets/store.ts, which run before
 * the configuration is loaded) and by `secops` for its Pushgateway push.
 */
export const PLAINTEXT_HOPS = ['database', 'redis', 'model', 'mail', 'secrets', 'pushgateway'] as const;
export type PlaintextHop = (typeof PLAINTEXT_HOPS)[number];

/** ALLOW_PLAINTEXT as a set; unknown names are left out (the settings schema refuses them at start). */
export function parseAllowPlaintext(text: string | undefined): Set<PlaintextHop> {
  return new Set(
    (text ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s): s is PlaintextHop => (PLAINTEXT_HOPS as readonly string[]).includes(s)),
  );
}
