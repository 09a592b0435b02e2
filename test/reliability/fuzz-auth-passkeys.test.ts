import { fuzzSuite } from './helpers/fuzz-harness.js';
import {
  mfaVerifyPasskey,
  passkeyDelete,
  passkeyList,
  passkeyLogin,
  passkeyLoginOptions,
  passkeyReauthOptions,
  passkeyRegister,
  passkeyRegisterOptions,
  passkeyRename,
} from './helpers/fuzz-endpoints.js';

/**
 * Property-based fuzzing of the passkey routes (docs/api.md, "Passkeys"): hostile bodies, headers,
 * framing and query strings never produce a 5xx, a hang or an error that is not problem+json, and
 * leave /healthz at 200 (test/reliability/helpers/fuzz-harness.ts). The bodies look like WebAuthn
 * responses — base64url fields of plausible sizes, JSON client data with a challenge — and then not.
 */
fuzzSuite('passkey endpoints under hostile input', [
  passkeyLoginOptions,
  passkeyLogin,
  passkeyRegisterOptions,
  passkeyRegister,
  passkeyList,
  passkeyRename,
  passkeyDelete,
  passkeyReauthOptions,
  mfaVerifyPasskey,
]);
