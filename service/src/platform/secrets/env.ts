import type { SecretProvider } from './provider.js';
import { SecretError } from './types.js';

/**
 * `env:NAME`: a variable of the environment the store was built with. Read-only — a process cannot
 * change the environment its operators gave it. An empty value counts as unset, as everywhere in config.
 */
export function createEnvProvider(env: Readonly<Record<string, string | undefined>>): SecretProvider<'env'> {
  return {
    async read(ref) {
      const value = env[ref.name];
      if (value === undefined || value === '') throw new SecretError('not_found', `environment variable ${ref.name} is not set`);
      return { value, version: undefined };
    },
    async write(ref) {
      throw new SecretError('read_only', `env:${ref.name} cannot be written: environment references are read-only`);
    },
  };
}
