import { isAbsolute, normalize } from 'node:path';
import { SecretError, type SecretReference } from './types.js';

/**
 * Parses the URL-like secret references of ./types.ts. One written form per provider, so a reference
 * never means two things:
 *
 *   env:NAME                        NAME: [A-Za-z_][A-Za-z0-9_]*
 *   file:/absolute/path             taken verbatim (no percent-decoding); `file://…` is refused
 *   vault://mount/path/to/secret#key  the first segment is the KV v2 mount, the rest the secret path; key required
 *   aws-sm://secret-id[#key]        secret name or ARN; without #key the whole SecretString
 *   aws-ssm:///param/name           the parameter name with its leading slash (so three slashes);
 *                                   `aws-ssm://name` is refused: is it `name` or `/name`?
 *
 * Error messages name the scheme and what is wrong, never the text: a secret pasted into a *_REF
 * variable by mistake must not reach a log.
 */

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Vault path segments: no empty, `.` or `..` segments, nothing that would need escaping in a URL. */
const VAULT_SEGMENT = /^[A-Za-z0-9_.@+=,-]+$/;
const VAULT_KEY = /^[A-Za-z0-9_.@+=,:-]+$/;
/** Secrets Manager names (`/_+=.@-` and alphanumerics) and ARNs (`:`). */
const AWS_SECRET_ID = /^[A-Za-z0-9/_+=.@:-]{1,2048}$/;
const AWS_JSON_KEY = /^[A-Za-z0-9_.@+=,:/-]{1,256}$/;
/** SSM parameter names: a-zA-Z0-9_.- and `/` between path segments. */
const SSM_NAME = /^(\/[A-Za-z0-9_.-]+)+$/;

const invalid = (scheme: string, why: string) => new SecretError('invalid_reference', `invalid ${scheme} secret reference: ${why}`);

export function parseSecretReference(text: string): SecretReference {
  if (typeof text !== 'string' || text.length === 0) throw new SecretError('invalid_reference', 'empty secret reference');
  if (text.length > 4096) throw new SecretError('invalid_reference', 'secret reference is too long');
  if (/\s/.test(text)) {
    throw new SecretError('invalid_reference', 'secret reference contains white space');
  }
  if (text.startsWith('env:')) return parseEnv(text);
  if (text.startsWith('file:')) return parseFile(text);
  if (text.startsWith('vault:')) return parseVault(text);
  if (text.startsWith('aws-sm:')) return parseAwsSm(text);
  if (text.startsWith('aws-ssm:')) return parseAwsSsm(text);
  throw new SecretError(
    'invalid_reference',
    'secret reference has an unknown scheme (expected env:NAME, file:/path, vault://mount/path#key, aws-sm://secret-id[#key] or aws-ssm:///name)',
  );
}

function parseEnv(text: string): SecretReference {
  const name = text.slice('env:'.length);
  if (!ENV_NAME.test(name)) throw invalid('env:', 'expected env:NAME with NAME of letters, digits and _');
  return { scheme: 'env', name, text };
}

function parseFile(text: string): SecretReference {
  const path = text.slice('file:'.length);
  if (path.startsWith('//')) throw invalid('file:', 'write file:/absolute/path (one slash; file://host/… is not supported)');
  if (!isAbsolute(path)) throw invalid('file:', 'the path must be absolute (file:/absolute/path)');
  if (path.includes('\0')) throw invalid('file:', 'the path contains a NUL character');
  if (path.endsWith('/')) throw invalid('file:', 'the path names a directory');
  return { scheme: 'file', path: normalize(path), text };
}

function parseVault(text: string): SecretReference {
  if (!text.startsWith('vault://')) throw invalid('vault://', 'expected vault://mount/path#key');
  const rest = text.slice('vault://'.length);
  const hash = rest.indexOf('#');
  if (hash < 0) throw invalid('vault://', 'a key is required after # (vault://mount/path#key)');
  const location = rest.slice(0, hash);
  const key = rest.slice(hash + 1);
  if (!VAULT_KEY.test(key)) throw invalid('vault://', 'the key after # must be non-empty letters, digits or _.@+=,:-');
  const segments = location.split('/');
  if (segments.length < 2) throw invalid('vault://', 'expected a mount and a secret path (vault://mount/path#key)');
  for (const s of segments) {
    if (!VAULT_SEGMENT.test(s) || s === '.' || s === '..') {
      throw invalid('vault://', 'path segments must be non-empty letters, digits or _.@+=,- (no //, . or ..)');
    }
  }
  const [mount, ...path] = segments as [string, ...string[]];
  return { scheme: 'vault', mount, path: path.join('/'), key, text };
}

function parseAwsSm(text: string): SecretReference {
  if (!text.startsWith('aws-sm://')) throw invalid('aws-sm://', 'expected aws-sm://secret-id or aws-sm://secret-id#key');
  const rest = text.slice('aws-sm://'.length);
  const hash = rest.indexOf('#');
  const secretId = hash < 0 ? rest : rest.slice(0, hash);
  const key = hash < 0 ? undefined : rest.slice(hash + 1);
  if (!AWS_SECRET_ID.test(secretId)) throw invalid('aws-sm://', 'the secret id must be a secret name or ARN');
  if (key !== undefined && !AWS_JSON_KEY.test(key)) throw invalid('aws-sm://', 'the key after # must be non-empty (or leave out #)');
  return { scheme: 'aws-sm', secretId, key, text };
}

function parseAwsSsm(text: string): SecretReference {
  if (!text.startsWith('aws-ssm://')) throw invalid('aws-ssm://', 'expected aws-ssm:///parameter/name');
  const name = text.slice('aws-ssm://'.length);
  if (!name.startsWith('/')) {
    throw invalid('aws-ssm://', 'write the parameter name with its leading slash, e.g. aws-ssm:///rampart/jwt-secret');
  }
  if (name.includes('#')) throw invalid('aws-ssm://', 'parameters hold one value: no #key');
  if (!SSM_NAME.test(name) || name.length > 2048) {
    throw invalid('aws-ssm://', 'the parameter name must be /-separated segments of letters, digits or _.-');
  }
  return { scheme: 'aws-ssm', name, text };
}

/** The reference as an operator wrote it, rebuilt from its parts: safe to log (a location, no value). */
export function describeReference(ref: SecretReference): string {
  switch (ref.scheme) {
    case 'env':
      return `env:${ref.name}`;
    case 'file':
      return `file:${ref.path}`;
    case 'vault':
      return `vault://${ref.mount}/${ref.path}#${ref.key}`;
    case 'aws-sm':
      return `aws-sm://${ref.secretId}${ref.key === undefined ? '' : `#${ref.key}`}`;
    case 'aws-ssm':
      return `aws-ssm://${ref.name}`;
  }
}
