/**
 * The architecture of shared/style.md ("Which way imports point"), enforced by `npm run lint`
 * (dependency-cruiser). test/architecture/architecture.test.ts plants one import that breaks each rule
 * and checks that this configuration refuses it, so a rule cannot silently stop working.
 *
 * TypeScript 7 ships no JavaScript compiler API, so the sources are parsed with swc; type-only imports
 * count (tsPreCompilationDeps), so a type-only cycle is a cycle too.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'No import cycles, type-only ones included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'platform-imports-no-component',
      comment: 'platform/ (errors, logger, metrics, db, secrets, limits, HTTP plumbing) knows no component.',
      severity: 'error',
      from: { path: '^service/src/platform/' },
      to: { path: '^service/src/components/' },
    },
    {
      name: 'components-meet-through-entry-points',
      comment:
        'A component reaches another only through its entry points: components/<name>/index.ts (the component) ' +
        'and components/<name>/public.ts (its plain functions, where it has any).',
      severity: 'error',
      from: { path: '^service/src/components/([^/]+)/' },
      to: {
        path: '^service/src/components/([^/]+)/',
        pathNot: ['^service/src/components/$1/', '^service/src/components/[^/]+/(index|public)\\.ts$'],
      },
    },
    {
      name: 'outside-uses-component-entry-points',
      comment:
        'Outside the components (composition root, app, main, the public surface, benches), a component is ' +
        'reached only through its entry point: its repos, services and routes are its own. The one exception is ' +
        "the benches' SQL baseline, which runs the components' very own queries on purpose (a fair comparison).",
      severity: 'error',
      from: { path: '^(service/src|cli|bench)/', pathNot: ['^service/src/components/', '^bench/lib/baseline-server\\.ts$'] },
      to: { path: '^service/src/components/[^/]+/.+', pathNot: '^service/src/components/[^/]+/(index|public)\\.ts$' },
    },
    {
      name: 'routes-import-no-database',
      comment: 'Routes are thin: they call the domain, never knex, pg or the database module.',
      severity: 'error',
      from: { path: '/routes\\.ts$' },
      to: { path: ['(^|/)node_modules/(knex|pg|@electric-sql/pglite)/', '^service/src/platform/db\\.ts$', '-repo\\.ts$', '/repo\\.ts$'] },
    },
    {
      name: 'cli-uses-the-public-surface',
      comment: 'The CLI imports the service only through service/src/public/ (its declared surface).',
      severity: 'error',
      from: { path: '^cli/' },
      to: { path: '^service/', pathNot: '^service/src/public/' },
    },
    {
      name: 'cli-is-no-web-app',
      comment: 'Nothing the CLI loads, directly or through the public surface, is Koa, app.ts, the composition root or a route.',
      severity: 'error',
      from: { path: '^cli/' },
      to: {
        path: ['(^|/)node_modules/(koa|@koa/[^/]+|koa-[^/]+)/', '^service/src/(app|deps)\\.ts$', '/routes\\.ts$'],
        reachable: true,
      },
    },
    {
      name: 'cli-definitions-load-commands-lazily',
      comment:
        "A command group's definition (commands/<group>.command.ts) and the program (main.ts, commands/index.ts) " +
        'reach a command module only by a dynamic import() or for its types, so `secops --help` loads none of them.',
      severity: 'error',
      from: { path: ['^cli/src/commands/[^/]+\\.command\\.ts$', '^cli/src/commands/index\\.ts$', '^cli/src/main\\.ts$'] },
      to: {
        path: '^cli/src/commands/[^/]+\\.ts$',
        pathNot: '^cli/src/commands/([^/]+\\.command|index)\\.ts$',
        dependencyTypesNot: ['type-only', 'dynamic-import'],
      },
    },
  ],
  options: {
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|test)/' },
    enhancedResolveOptions: { extensions: ['.ts', '.mjs', '.cjs', '.js', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
