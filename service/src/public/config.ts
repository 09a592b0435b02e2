// Configuration: the environment's schema, loading it, and *_REF secret references.
export * from '../config/load.js';
export * from '../config/references.js';
export * from '../config/settings.js';
