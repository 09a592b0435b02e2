import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';

/**
 * The JSON a browser's PublicKeyCredential.toJSON() (or @simplewebauthn/browser) produces, with size
 * caps: anything malformed is a 400 `validation_failed` before the library sees it. Members the
 * schemas do not name (future additions of the spec) are dropped, not refused.
 */
const base64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'Not base64url.');

/** A credential id is at most 1,023 bytes (WebAuthn Level 3): 1,364 base64url characters. */
const credentialId = base64url(1364);
const clientDataJSON = base64url(8192);
const clientExtensionResults = z
  .record(z.string().max(64), z.unknown())
  .refine((v) => Object.keys(v).length <= 16, 'Too many extension results.')
  .default({});
const authenticatorAttachment = z.enum(['platform', 'cross-platform']).optional();

export const registrationResponseSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON,
    /** Attestation 'none' is small; a packed or TPM statement with its certificates stays far below this. */
    attestationObject: base64url(32768),
    authenticatorData: base64url(16384).optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: base64url(4096).optional(),
  }),
  authenticatorAttachment,
  clientExtensionResults,
}) satisfies z.ZodType<RegistrationResponseJSON, unknown>;

export const authenticationResponseSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON,
    authenticatorData: base64url(16384),
    signature: base64url(2048),
    userHandle: base64url(128)
      .nullish()
      .transform((v) => v ?? undefined),
  }),
  authenticatorAttachment,
  clientExtensionResults,
}) satisfies z.ZodType<AuthenticationResponseJSON, unknown>;
