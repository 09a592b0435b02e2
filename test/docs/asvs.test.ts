/**
 * docs/asvs.md is checkable (issue 26): every ASVS 5.0.0 L1/L2 requirement is in docs/asvs/map.yaml,
 * every `met` one names tests that exist under exactly that name, and the page is what
 * scripts/asvs.ts writes. A renamed or deleted test fails here. The checker itself is pinned on
 * fixtures in a temporary directory.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ASVS_DOC,
  checkMap,
  figures,
  type MapEntry,
  readMap,
  readRequirements,
  renderDoc,
  type Requirement,
  runCheck,
  testNames,
} from '../../scripts/asvs.js';

const FIXTURE_TEST = `import { describe, it, test } from 'node:test';
describe('outer suite', () => {
  it('keeps a name', () => {});
  it("has an 'apostrophe'", () => {});
  describe(\`inner \${'template'}\`, () => {
    test('runs deep', () => {});
  });
});
it('escaped \\'quote\\' too', () => {});
`;

/** The inner describe's name as written in FIXTURE_TEST, `${…}` and all (not a JS template here). */
const INNER = ['inner $', "{'template'}"].join('');

const REQS: Requirement[] = [
  { chapterId: 'V1', chapterName: 'One', sectionId: 'V1.1', sectionName: 'First', id: 'V1.1.1', text: 'Verify a.', level: 1 },
  { chapterId: 'V1', chapterName: 'One', sectionId: 'V1.1', sectionName: 'First', id: 'V1.1.2', text: 'Verify b.', level: 2 },
  { chapterId: 'V2', chapterName: 'Two', sectionId: 'V2.1', sectionName: 'Second', id: 'V2.1.1', text: 'Verify c.', level: 2 },
];

const MET: MapEntry = { status: 'met', note: 'How.', proofs: [{ file: 'test/fixture.test.ts', test: 'keeps a name' }] };
const GOOD_MAP: Record<string, MapEntry> = {
  'V1.1.1': MET,
  'V1.1.2': { status: 'partial', reason: 'Half.', plan: 'The rest.' },
  'V2.1.1': { status: 'n/a', reason: 'No such feature.' },
};

describe('the ASVS 5.0.0 mapping (docs/asvs.md)', () => {
  it('docs/asvs.md is generated from the map and every proof names a test that exists (run `node --import tsx scripts/asvs.ts --write` after a change)', () => {
    assert.deepEqual(runCheck(), []);
  });

  it('holds the 253 Level 1 and Level 2 requirements of ASVS 5.0.0, each mapped once', () => {
    const requirements = readRequirements();
    assert.equal(requirements.length, 253);
    assert.equal(requirements.filter((r) => r.level === 1).length, 70);
    assert.equal(new Set(requirements.map((r) => r.id)).size, 253);
    assert.deepEqual(Object.keys(readMap()).sort(), requirements.map((r) => r.id).sort());
    const f = figures(requirements, readMap());
    assert.equal(f.both.applicable + f.both.na, 253);
  });

  it('reads test names in single, double and template quotes, nested as "describe > it"', () => {
    const names = testNames(FIXTURE_TEST);
    for (const name of [
      'outer suite',
      'keeps a name',
      'outer suite > keeps a name',
      "has an 'apostrophe'",
      INNER,
      `outer suite > ${INNER} > runs deep`,
      'runs deep',
      "escaped 'quote' too",
    ]) {
      assert.ok(names.has(name), `${name} in ${[...names].join(' | ')}`);
    }
    assert.ok(!names.has("outer suite > escaped 'quote' too"), 'a call after the describe closed is not inside it');
  });

  it('fails on a renamed or deleted test, a missing file, a missing or unknown id, a malformed entry and a stale page', (t) => {
    const root = mkdtempSync(join(tmpdir(), 'asvs-check-'));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'test'));
    writeFileSync(join(root, 'test/fixture.test.ts'), FIXTURE_TEST);
    const doc = renderDoc(REQS, GOOD_MAP);
    assert.deepEqual(checkMap({ requirements: REQS, map: GOOD_MAP, root, doc }), [], 'the good fixture passes');
    assert.deepEqual(
      checkMap({
        requirements: REQS,
        map: {
          ...GOOD_MAP,
          'V1.1.1': { ...MET, proofs: [{ file: 'test/fixture.test.ts', test: 'outer suite > keeps a name' }] },
        },
        root,
      }),
      [],
      'a nested name may be given with its describe',
    );

    const problems = (map: Record<string, MapEntry>, withDoc = doc) =>
      checkMap({ requirements: REQS, map, root, doc: withDoc }).join('\n');
    const withProof = (test: string, file = 'test/fixture.test.ts') => ({
      ...GOOD_MAP,
      'V1.1.1': { ...MET, proofs: [{ file, test }] },
    });

    // The test renamed in the file (the map still names the old one), then deleted.
    writeFileSync(join(root, 'test/fixture.test.ts'), FIXTURE_TEST.replace('keeps a name', 'keeps another name'));
    assert.match(problems(GOOD_MAP), /V1\.1\.1: test\/fixture\.test\.ts has no test named "keeps a name"/);
    writeFileSync(join(root, 'test/fixture.test.ts'), FIXTURE_TEST.replace("  it('keeps a name', () => {});\n", ''));
    assert.match(problems(GOOD_MAP), /has no test named "keeps a name"/);
    writeFileSync(join(root, 'test/fixture.test.ts'), FIXTURE_TEST);
    assert.equal(problems(GOOD_MAP), '');

    assert.match(problems(withProof('keeps a nam')), /has no test named "keeps a nam"/, 'a prefix is not the name');
    assert.match(problems(withProof('inner suite > runs deep')), /has no test named/, 'a wrong describe path');
    assert.match(
      problems(withProof('keeps a name', 'test/missing.test.ts')),
      /proof file test\/missing\.test\.ts does not exist/,
    );
    assert.match(problems(withProof('keeps a name', 'service/src/app.ts')), /not a test file under test\//);

    const { 'V2.1.1': _dropped, ...missing } = GOOD_MAP;
    assert.match(problems(missing), /V2\.1\.1: missing from the map/);
    assert.match(
      problems({ ...GOOD_MAP, 'V9.9.9': { status: 'n/a', reason: 'x' } }),
      /V9\.9\.9: not an ASVS 5\.0\.0 L1\/L2 requirement/,
    );
    assert.match(problems({ ...GOOD_MAP, 'V1.1.1': { status: 'met', note: 'How.' } }), /needs at least one proof/);
    assert.match(problems({ ...GOOD_MAP, 'V1.1.1': { status: 'done' as 'met', note: 'x' } }), /status must be one of/);
    assert.match(problems({ ...GOOD_MAP, 'V1.1.2': { status: 'partial', reason: 'Half.' } }), /V1\.1\.2: partial needs a plan/);
    assert.match(problems({ ...GOOD_MAP, 'V1.1.2': { status: 'not-met', plan: 'Later.' } }), /V1\.1\.2: not-met needs a reason/);
    assert.match(problems({ ...GOOD_MAP, 'V2.1.1': { status: 'n/a' } }), /V2\.1\.1: n\/a needs a reason/);

    assert.match(problems(GOOD_MAP, `${doc}\nedited by hand\n`), /docs\/asvs\.md differs/);
    assert.match(
      problems({ ...GOOD_MAP, 'V2.1.1': { status: 'n/a', reason: 'Another reason.' } }),
      /docs\/asvs\.md differs/,
      'a map change needs a rewrite',
    );
  });

  it('writes the page from the map: totals per level and chapter, what remains, each requirement with its proofs or reason', () => {
    const doc = renderDoc(REQS, GOOD_MAP);
    assert.match(doc, /\| L1 requirements \| 1 \| 1 \| 1 \| 0 \| 0 \| 0 \| 100\.0 % \|/);
    assert.match(doc, /\| L2 requirements \(level 2 only\) \| 2 \| 1 \| 0 \| 1 \| 0 \| 1 \| 0\.0 % \|/);
    assert.match(doc, /\| Level 2 \(L1 \+ L2\) \| 3 \| 2 \| 1 \| 1 \| 0 \| 1 \| 50\.0 % \|/);
    assert.match(
      doc,
      /#### V1\.1\.1 \(L1\) — ✅ met\n\n> Verify a\.\n\nHow\.\n\n- proof: `test\/fixture\.test\.ts` — “keeps a name”/,
    );
    assert.match(doc, /#### V1\.1\.2 \(L2\) — 🟡 partial\n\n> Verify b\.\n\nWhy: Half\.\n\nPlan: The rest\./);
    assert.match(doc, /#### V2\.1\.1 \(L2\) — ➖ n\/a\n\n> Verify c\.\n\nNot applicable: No such feature\./);
    assert.match(
      doc,
      /## What remains: partial and not met\n\n\| requirement \| level \| status \| why \| plan \|\n\|---\|---\|---\|---\|---\|\n\| \[V1\.1\.2\]\(#v112-l2---partial\) \| L2 \| partial \| Half\. \| The rest\. \|\n\n/,
    );
    assert.ok(ASVS_DOC.endsWith('docs/asvs.md'));
  });
});
