// Secret stores (env, file, Vault, AWS) and their references.
export * from '../platform/secrets/reference.js';
export * from '../platform/secrets/store.js';
export * from '../platform/secrets/types.js';
