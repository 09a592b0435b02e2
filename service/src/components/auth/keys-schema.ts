import { z } from 'zod';

/**
 * The JWT_KEYS document — `{"signing": kid, "keys": [JWK…]}` — as both its readers see it: the
 * keyring the service builds (keyring.ts) and the rotation `secops keys` performs (keys-document.ts).
 * HS256 `oct` keys and Ed25519 `OKP` keys (public for verify-only ones), each with the rotation's
 * optional timestamps.
 */
const isoDate = z.iso.datetime({ offset: true });
const rotation = { created_at: isoDate.optional(), retired_at: isoDate.optional() };
const kid = z.string().min(1).max(128);

export const jwkSchema = z.union([
  z.object({ kid, kty: z.literal('oct'), k: z.string().min(1), ...rotation }).loose(),
  z.object({ kid, kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().min(1), d: z.string().optional(), ...rotation }).loose(),
]);

export const keysDocumentSchema = z.object({ signing: z.string().min(1), keys: z.array(jwkSchema).min(1) });
