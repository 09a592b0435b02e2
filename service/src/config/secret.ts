import { inspect } from 'node:util';

/**
 * A value that must never be printed. Logging, JSON serialisation, string coercion and
 * util.inspect all show "[redacted]"; only `reveal()` gives the bytes, at the point of use.
 */
export class Secret<T = Uint8Array> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}
