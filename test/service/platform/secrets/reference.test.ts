import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeReference, parseSecretReference } from '../../../../service/src/platform/secrets/reference.js';
import { SecretError } from '../../../../service/src/platform/secrets/types.js';

function refusal(text: string): SecretError {
  try {
    parseSecretReference(text);
  } catch (err) {
    assert.ok(err instanceof SecretError, `expected SecretError for ${JSON.stringify(text)}`);
    assert.equal(err.code, 'invalid_reference');
    return err;
  }
  assert.fail(`${JSON.stringify(text)} was accepted`);
}

describe('parsing secret references', () => {
  it('reads env:NAME', () => {
    assert.deepEqual(parseSecretReference('env:JWT_SECRET'), { scheme: 'env', name: 'JWT_SECRET', text: 'env:JWT_SECRET' });
  });

  it('reads file:/absolute/path verbatim (normalised)', () => {
    const ref = parseSecretReference('file:/var/run/secrets/rampart/../rampart/jwt');
    assert.deepEqual(ref, { scheme: 'file', path: '/var/run/secrets/rampart/jwt', text: 'file:/var/run/secrets/rampart/../rampart/jwt' });
  });

  it('reads vault://mount/path#key with the first segment as the mount', () => {
    const ref = parseSecretReference('vault://secret/rampart/prod/jwt#value');
    assert.deepEqual(ref, {
      scheme: 'vault',
      mount: 'secret',
      path: 'rampart/prod/jwt',
      key: 'value',
      text: 'vault://secret/rampart/prod/jwt#value',
    });
  });

  it('reads aws-sm://secret-id with and without #key, names and ARNs', () => {
    assert.deepEqual(parseSecretReference('aws-sm://rampart/prod/db#url'), {
      scheme: 'aws-sm',
      secretId: 'rampart/prod/db',
      key: 'url',
      text: 'aws-sm://rampart/prod/db#url',
    });
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:rampart-jwt-AbCdEf';
    const ref = parseSecretReference(`aws-sm://${arn}`);
    assert.equal(ref.scheme, 'aws-sm');
    assert.equal(ref.scheme === 'aws-sm' && ref.secretId, arn);
    assert.equal(ref.scheme === 'aws-sm' && ref.key, undefined);
  });

  it('reads aws-ssm:///name with the leading slash kept', () => {
    assert.deepEqual(parseSecretReference('aws-ssm:///rampart/prod/jwt-secret'), {
      scheme: 'aws-ssm',
      name: '/rampart/prod/jwt-secret',
      text: 'aws-ssm:///rampart/prod/jwt-secret',
    });
  });

  it('describes a reference by its location', () => {
    for (const text of ['env:A', 'file:/a/b', 'vault://kv/a/b#k', 'aws-sm://s#k', 'aws-sm://s', 'aws-ssm:///p/q']) {
      assert.equal(describeReference(parseSecretReference(text)), text);
    }
  });
});

describe('refusing malformed references', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['JWT_SECRET', /unknown scheme/],
    ['https://vault/x', /unknown scheme/],
    ['env:', /env:/],
    ['env:1ABC', /env:/],
    ['file:relative/path', /absolute/],
    ['file://host/etc/secret', /one slash/],
    ['file:/etc/', /directory/],
    ['vault:secret/a#k', /vault:\/\//],
    ['vault://secret/a', /key is required/],
    ['vault://secret/a#', /key/],
    ['vault://secret#k', /mount and a secret path/],
    ['vault://secret//a#k', /no \/\//],
    ['vault://secret/../a#k', /no \/\/, \. or \.\./],
    ['aws-sm://', /secret name or ARN/],
    ['aws-sm://name#', /key/],
    ['aws-ssm://name', /leading slash/],
    ['aws-ssm:///a#k', /no #key/],
    ['aws-ssm:///a//b', /segments/],
    ['aws-ssm:///', /segments/],
    ['vault://secret/a b#k', /white space/],
  ];
  for (const [text, why] of cases) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.match(refusal(text).message, why);
    });
  }

  it('never repeats the text it refuses (it may be a secret pasted by mistake)', () => {
    const secret = 'hunter2hunter2hunter2';
    for (const text of [secret, `env:${secret}!`, `vault://${secret}`, `aws-ssm://${secret}`, `file:${secret}`]) {
      assert.doesNotMatch(refusal(text).message, /hunter2/);
    }
  });
});
