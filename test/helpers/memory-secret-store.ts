import { SecretError, type SecretReference, type SecretStore, type WriteOptions } from '../../service/src/platform/secrets/types.js';

/**
 * An in-memory SecretStore with versions and check-and-set, for tests of code that only needs the
 * store's contract (the providers themselves are tested against their local servers).
 */
export interface MemorySecretStore extends SecretStore {
  /** Current value by reference text. */
  peek(text: string): string | undefined;
  /** Writes behind everyone's back (a concurrent rotation). */
  poke(text: string, value: string): void;
  writes: number;
}

export function memorySecretStore(initial: Record<string, string> = {}): MemorySecretStore {
  const values = new Map<string, { value: string; version: number }>();
  for (const [k, v] of Object.entries(initial)) values.set(k, { value: v, version: 1 });
  const store: MemorySecretStore = {
    writes: 0,
    async read(ref: SecretReference) {
      const entry = values.get(ref.text);
      if (!entry) throw new SecretError('not_found', `${ref.text}: no such secret`);
      return { value: entry.value, version: String(entry.version) };
    },
    async write(ref: SecretReference, value: string, options: WriteOptions = {}) {
      const entry = values.get(ref.text);
      if (options.expectedVersion === null && entry) throw new SecretError('conflict', `${ref.text}: already exists`);
      if (typeof options.expectedVersion === 'string' && options.expectedVersion !== String(entry?.version)) {
        throw new SecretError('conflict', `${ref.text}: version ${options.expectedVersion} is not the current one`);
      }
      const version = (entry?.version ?? 0) + 1;
      values.set(ref.text, { value, version });
      store.writes++;
      return { version: String(version) };
    },
    peek: (text) => values.get(text)?.value,
    poke(text, value) {
      values.set(text, { value, version: (values.get(text)?.version ?? 0) + 1 });
    },
  };
  return store;
}
