// JWT keyrings, keys documents and their rotation, the Argon2 policy type (no Koa, no database).
export * from '../components/auth/public.js';
