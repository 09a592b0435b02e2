import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for the AWS APIs the secret providers call (AWS is not reachable from here),
 * speaking the AWS JSON 1.1 protocol the SDK uses: `POST /` with `X-Amz-Target: <service>.<Operation>`,
 * a JSON body, and errors as HTTP 400/500 with `{__type, message}`.
 *
 * - Secrets Manager (https://docs.aws.amazon.com/secretsmanager/latest/apireference/):
 *   GetSecretValue, PutSecretValue (ClientRequestToken becomes the VersionId; AWSCURRENT moves to it,
 *   AWSPREVIOUS to the one before), CreateSecret; ResourceNotFoundException, ResourceExistsException.
 * - SSM Parameter Store (https://docs.aws.amazon.com/systems-manager/latest/APIReference/):
 *   GetParameter (WithDecryption), PutParameter (Overwrite; Version counts up); ParameterNotFound,
 *   ParameterAlreadyExists.
 * - Authentication: requests must carry a Signature Version 4 `Authorization: AWS4-HMAC-SHA256
 *   Credential=<key id>/<date>/<region>/<service>/aws4_request, SignedHeaders=…, Signature=…`. An
 *   unknown key id → UnrecognizedClientException; a signature that does not verify with that key's
 *   secret → InvalidSignatureException; a key id listed as denied → AccessDeniedException.
 */

export interface FakeAwsOptions {
  accessKeyId: string;
  secretAccessKey: string;
  /** Known key ids without any permission (→ AccessDeniedException). */
  deniedKeys?: { accessKeyId: string; secretAccessKey: string }[];
  accountId?: string;
  region?: string;
}

interface SmVersion {
  id: string;
  secretString: string;
  stages: string[];
  created: number;
}

export interface FakeAws {
  readonly url: string;
  /** Operations received (X-Amz-Target), in order. */
  readonly operations: string[];
  /** Seeds a secret as an operator would; returns its VersionId. */
  putSecret(name: string, secretString: string): string;
  secretString(name: string): string | undefined;
  putParameter(name: string, value: string): number;
  parameter(name: string): { value: string; version: number; type: string } | undefined;
  close(): Promise<void>;
}

class AwsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** Verifies an AWS Signature Version 4 over the request as received. */
function verifySigV4(req: IncomingMessage, body: Buffer, keys: Map<string, string>): string {
  const header = req.headers.authorization ?? '';
  const match = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
    header,
  );
  if (!match) throw new AwsFault('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const [, keyId, date, region, service, signedHeaders, signature] = match as unknown as string[];
  const secret = keys.get(keyId as string);
  if (secret === undefined) throw new AwsFault('UnrecognizedClientException', 'The security token included in the request is invalid.');
  const amzDate = req.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !amzDate.startsWith(date as string)) {
    throw new AwsFault('IncompleteSignatureException', 'X-Amz-Date is missing or does not match the credential scope.');
  }
  const url = new URL(req.url ?? '/', 'http://aws.local');
  const names = (signedHeaders as string).split(';');
  const canonicalHeaders = names
    .map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const payloadHash = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : sha256(body);
  const canonicalRequest = [req.method, url.pathname, url.search.slice(1), canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, date as string), region as string), service as string), 'aws4_request');
  const expected = hmac(signingKey, stringToSign);
  const given = Buffer.from(signature as string, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AwsFault(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return keyId as string;
}

export async function startFakeAws(options: FakeAwsOptions): Promise<FakeAws> {
  const account = options.accountId ?? '123456789012';
  const region = options.region ?? 'eu-west-1';
  const keys = new Map<string, string>([[options.accessKeyId, options.secretAccessKey]]);
  const denied = new Set<string>();
  for (const k of options.deniedKeys ?? []) {
    keys.set(k.accessKeyId, k.secretAccessKey);
    denied.add(k.accessKeyId);
  }
  const secrets = new Map<string, { arn: string; versions: SmVersion[] }>();
  const parameters = new Map<string, { value: string; version: number; type: string; modified: number }>();
  const operations: string[] = [];

  const arnOf = (name: string) => `arn:aws:secretsmanager:${region}:${account}:secret:${name}-${sha256(name).slice(0, 6)}`;
  const findSecret = (id: unknown) => {
    if (typeof id !== 'string' || id.length === 0) throw new AwsFault('InvalidParameterException', 'SecretId is required.');
    const byName = secrets.get(id);
    if (byName) return { name: id, entry: byName };
    for (const [name, entry] of secrets) if (entry.arn === id) return { name, entry };
    throw new AwsFault('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  };
  const addVersion = (entry: { versions: SmVersion[] }, secretString: string, token: string) => {
    const existing = entry.versions.find((v) => v.id === token);
    if (existing) {
      if (existing.secretString !== secretString) {
        throw new AwsFault('ResourceExistsException', 'You can’t modify an existing version, you can only create a new version.');
      }
      return existing;
    }
    for (const v of entry.versions) {
      v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
      if (v.stages.includes('AWSCURRENT')) v.stages = [...v.stages.filter((s) => s !== 'AWSCURRENT'), 'AWSPREVIOUS'];
    }
    const version: SmVersion = { id: token, secretString, stages: ['AWSCURRENT'], created: Date.now() / 1000 };
    entry.versions.push(version);
    return version;
  };
  const current = (entry: { versions: SmVersion[] }) => entry.versions.find((v) => v.stages.includes('AWSCURRENT')) as SmVersion;

  const handlers: Record<string, (body: Record<string, unknown>) => unknown> = {
    'secretsmanager.GetSecretValue'(body) {
      const { name, entry } = findSecret(body.SecretId);
      const stage = typeof body.VersionStage === 'string' ? body.VersionStage : 'AWSCURRENT';
      const v =
        typeof body.VersionId === 'string' ? entry.versions.find((x) => x.id === body.VersionId) : entry.versions.find((x) => x.stages.includes(stage));
      if (!v) throw new AwsFault('ResourceNotFoundException', "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT");
      return { ARN: entry.arn, Name: name, VersionId: v.id, SecretString: v.secretString, VersionStages: v.stages, CreatedDate: v.created };
    },
    'secretsmanager.PutSecretValue'(body) {
      const { name, entry } = findSecret(body.SecretId);
      if (typeof body.SecretString !== 'string') throw new AwsFault('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      const token = typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : randomUUID();
      const v = addVersion(entry, body.SecretString, token);
      return { ARN: entry.arn, Name: name, VersionId: v.id, VersionStages: v.stages };
    },
    'secretsmanager.CreateSecret'(body) {
      const name = body.Name;
      if (typeof name !== 'string' || !/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) throw new AwsFault('ValidationException', 'Invalid name.');
      if (secrets.has(name)) throw new AwsFault('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      const entry = { arn: arnOf(name), versions: [] as SmVersion[] };
      secrets.set(name, entry);
      if (typeof body.SecretString !== 'string') return { ARN: entry.arn, Name: name };
      const v = addVersion(entry, body.SecretString, typeof body.ClientRequestToken === 'string' ? body.ClientRequestToken : randomUUID());
      return { ARN: entry.arn, Name: name, VersionId: v.id };
    },
    'AmazonSSM.GetParameter'(body) {
      const p = typeof body.Name === 'string' ? parameters.get(body.Name) : undefined;
      if (!p) throw new AwsFault('ParameterNotFound', '');
      const value = p.type === 'SecureString' && body.WithDecryption !== true ? Buffer.from(`kms:${p.value}`).toString('base64') : p.value;
      return {
        Parameter: {
          Name: body.Name,
          Type: p.type,
          Value: value,
          Version: p.version,
          LastModifiedDate: p.modified,
          ARN: `arn:aws:ssm:${region}:${account}:parameter${body.Name}`,
          DataType: 'text',
        },
      };
    },
    'AmazonSSM.PutParameter'(body) {
      const name = body.Name;
      if (typeof name !== 'string' || typeof body.Value !== 'string') throw new AwsFault('ValidationException', 'Name and Value are required.');
      const existing = parameters.get(name);
      if (existing && body.Overwrite !== true) {
        throw new AwsFault('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
      }
      const type = typeof body.Type === 'string' ? body.Type : (existing?.type ?? 'String');
      const version = (existing?.version ?? 0) + 1;
      parameters.set(name, { value: body.Value, version, type, modified: Date.now() / 1000 });
      return { Version: version, Tier: 'Standard' };
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] ?? '');
    operations.push(target);
    try {
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://aws.local').pathname !== '/') {
        throw new AwsFault('UnknownOperationException', 'Unknown operation');
      }
      const keyId = verifySigV4(req, raw, keys);
      const handler = handlers[target];
      if (!handler) throw new AwsFault('UnknownOperationException', `Unknown operation ${target}`);
      if (denied.has(keyId)) {
        throw new AwsFault(
          'AccessDeniedException',
          `User: arn:aws:iam::${account}:user/denied is not authorized to perform: ${target.replace('.', ':')} because no identity-based policy allows it`,
        );
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
      } catch {
        throw new AwsFault('SerializationException', 'Malformed JSON');
      }
      const out = JSON.stringify(handler(body));
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() }).end(out);
    } catch (err) {
      const fault = err instanceof AwsFault ? err : new AwsFault('InternalServiceError', 'internal error', 500);
      const out = JSON.stringify({ __type: fault.type, message: fault.message });
      res
        .writeHead(fault.status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), 'x-amzn-errortype': fault.type })
        .end(out);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    operations,
    putSecret(name, secretString) {
      const entry = secrets.get(name) ?? { arn: arnOf(name), versions: [] };
      secrets.set(name, entry);
      return addVersion(entry, secretString, randomUUID()).id;
    },
    secretString(name) {
      const entry = secrets.get(name);
      return entry ? current(entry)?.secretString : undefined;
    },
    putParameter(name, value) {
      const version = (parameters.get(name)?.version ?? 0) + 1;
      parameters.set(name, { value, version, type: 'SecureString', modified: Date.now() / 1000 });
      return version;
    },
    parameter(name) {
      const p = parameters.get(name);
      return p ? { value: p.value, version: p.version, type: p.type } : undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
