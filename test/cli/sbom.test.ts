import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { run, type SbomResult } from '../../cli/src/commands/sbom.js';
import { createContext } from '../../cli/src/lib/context.js';
import { type CycloneDxBom, PROPERTY, stampBom } from '../../cli/src/lib/supply-chain/sbom.js';
import { captureIo } from './capture.js';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('secops sbom', () => {
  let result: SbomResult;
  let bom: CycloneDxBom;
  let stdout: string;
  const headSha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).toString().trim();

  before(async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'secops-sbom-')), 'nested', 'sbom.cdx.json');
    const captured = captureIo({});
    const ctx = createContext(captured.io, { json: true, databaseUrl: undefined }, async () => {
      throw new Error('no database');
    });
    result = await run({ out, cwd: ROOT }, ctx);
    stdout = captured.stdout();
    bom = JSON.parse(readFileSync(out, 'utf8'));
  });

  it('is a CycloneDX 1.6 JSON document with components', () => {
    assert.equal(bom.bomFormat, 'CycloneDX');
    assert.equal(bom.specVersion, '1.6');
    assert.ok(Array.isArray(bom.components) && bom.components.length > 50);
    assert.equal(JSON.parse(stdout).components, bom.components!.length);
  });

  it('lists koa, jose and @node-rs/argon2 with purls and licences', () => {
    for (const [group, name, purlName] of [
      [undefined, 'koa', 'koa'],
      [undefined, 'jose', 'jose'],
      ['@node-rs', 'argon2', '%40node-rs/argon2'],
    ] as const) {
      const c = bom.components!.find((x) => x.name === name && x.group === group);
      assert.ok(c, `${group ? `${group}/` : ''}${name} is listed`);
      assert.match(c.purl ?? '', new RegExp(`^pkg:npm/${purlName}@\\d+\\.\\d+\\.\\d+`));
      assert.ok((c.licenses?.length ?? 0) > 0, `${name} has a licence`);
    }
    assert.equal(bom.components!.find((x) => x.name === 'koa')?.purl, 'pkg:npm/koa@3.3.0');
  });

  it('leaves out dev dependencies', () => {
    const names = new Set(bom.components!.map((c) => (c.group ? `${c.group}/${c.name}` : c.name)));
    for (const dev of ['typescript', '@biomejs/biome', 'autocannon', '@cyclonedx/cyclonedx-npm', 'fast-check'])
      assert.ok(!names.has(dev), `${dev} must not be in the SBOM`);
  });

  it('names the git commit and version in metadata', () => {
    const component = bom.metadata?.component;
    assert.equal(component?.version, result.version);
    const props = Object.fromEntries((component?.properties ?? []).map((p) => [p.name, p.value]));
    assert.equal(props[PROPERTY.gitSha], headSha);
    assert.equal(props[PROPERTY.version], result.version);
    assert.ok(JSON.stringify(bom).includes(headSha));
    assert.equal(bom.metadata?.timestamp, undefined, 'reproducible output has no timestamp');
  });

  it('stamping is deterministic and idempotent', () => {
    const identity = { version: '1.2.3', gitSha: 'a'.repeat(40), gitDirty: false };
    const once = stampBom(bom, identity);
    assert.deepEqual(stampBom(once, identity), once);
    assert.equal(JSON.stringify(stampBom(bom, identity)), JSON.stringify(once));
  });
});
