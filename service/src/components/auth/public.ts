/**
 * The auth component's plain functions, usable without building the component (no Koa, no database):
 * JWT keyrings, keys documents and their rotation, the access-token signer, the Argon2 policy type. The CLI reaches them through
 * service/src/public/auth.ts; npm run lint keeps every other module outside auth to index.ts and this.
 */
export { type JwtAlgorithm, type Keyring, KeyringError, keyringFromDocument, keyringFromSecret } from './keyring.js';
export { keyringSource } from './keyring-source.js';
export { signCompactJws } from './jws-sign.js';
export * from './keys-document.js';
export type { Argon2Policy } from './passwords.js';
export * from './operator-actions.js';
export { type ExportAuditRow, type ExportConversationItem, exportDocument } from './export-document.js';
export type { AccountProfile } from './account-lifecycle-flows.js';
export { type ReencryptReport, reencryptTotpSecrets } from './mfa/reencrypt.js';
export { developmentMfaKey, type MfaKeyring, parseMfaKeyring } from '../../platform/mfa-keyring.js';
