import fc from 'fast-check';
import { type EndpointSpec, fuzzSuite } from './helpers/fuzz-harness.js';
import { hostileString, plausibleEmail } from './helpers/fuzz-inputs.js';

/**
 * Property-based fuzzing of the passkey routes (docs/api.md, "Passkeys"): hostile bodies, headers,
 * framing and query strings never produce a 5xx, a hang or an error that is not problem+json, and
 * leave /healthz at 200 (test/reliability/helpers/fuzz-harness.ts). The bodies look like WebAuthn
 * responses — base64url fields of plausible sizes, JSON client data with a challenge — and then not.
 */
const base64url = fc.oneof(
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 96 }).map((b) => Buffer.from(b).toString('base64url')), weight: 4 },
  {
    arbitrary: fc
      .record({ type: fc.constantFrom('webauthn.get', 'webauthn.create', 'x'), challenge: fc.oneof(fc.string(), fc.constant('')), origin: fc.constantFrom('http://localhost:5173', 'https://evil.example') })
      .map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
    weight: 2,
  },
  { arbitrary: hostileString, weight: 1 },
);
const credentialResponse = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(
    {
      id: base64url,
      rawId: base64url,
      type: fc.constantFrom('public-key', 'password'),
      response: fc.record(fields, { requiredKeys: [] }),
      authenticatorAttachment: fc.constantFrom('platform', 'cross-platform'),
      clientExtensionResults: fc.constant({}),
    },
    { requiredKeys: ['id', 'rawId', 'type', 'response'] },
  );
const assertion = credentialResponse({ clientDataJSON: base64url, authenticatorData: base64url, signature: base64url, userHandle: base64url });
const attestation = credentialResponse({ clientDataJSON: base64url, attestationObject: base64url, transports: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }) });

const loginOptions: EndpointSpec = {
  name: 'passkey-login-options',
  method: 'POST',
  path: '/v1/auth/webauthn/login/options',
  authenticated: false,
  fields: ['email'],
  plausible: fc.record({ email: plausibleEmail }, { requiredKeys: [] }),
};
const login: EndpointSpec = { name: 'passkey-login', method: 'POST', path: '/v1/auth/webauthn/login', authenticated: false, fields: ['response'], plausible: fc.record({ response: assertion }) };
const registerOptions: EndpointSpec = { name: 'passkey-register-options', method: 'POST', path: '/v1/auth/webauthn/register/options', authenticated: true, recentAuth: true, fields: [] };
const register: EndpointSpec = {
  name: 'passkey-register',
  method: 'POST',
  path: '/v1/auth/webauthn/register',
  authenticated: true,
  recentAuth: true,
  fields: ['response', 'name'],
  plausible: fc.record({ response: attestation, name: fc.oneof(fc.constant('My key'), hostileString) }),
};
const list: EndpointSpec = { name: 'passkey-list', method: 'GET', path: '/v1/auth/webauthn/credentials', authenticated: true, fields: [], query: true };

fuzzSuite('passkey endpoints under hostile input', [loginOptions, login, registerOptions, register, list]);
