// The walls between layers, checked by `pnpm lint` (`depcruise apps packages --config .dependency-cruiser.cjs --output-type err-long`).
//
// Imports of workspace packages resolve through their package.json `exports` with the `development`
// condition, i.e. to the TypeScript sources, so the rules below see real files. packages/shared has no
// barrel: each layer is its own entry (`@tabpfn-jobs/shared/repositories`, `/db`, `/jobs`, `/errors`, …),
// so a route reaching a repository is an import of packages/shared/src/repositories/ and is caught here.

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'routes-not-to-repositories',
      severity: 'error',
      comment: 'HTTP routes talk to services (apps/api/src/services); only services and the context touch repositories.',
      from: { path: '^apps/api/src/routes/' },
      to: { path: ['^packages/shared/src/repositories/', '^packages/shared/src/db/', '^packages/shared/src/core\\.ts$'] },
    },
    {
      name: 'app-not-to-other-app',
      severity: 'error',
      comment: 'An app (api, worker, tabpfn-emulator) never imports another app: what they share lives in packages/.',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'package-not-to-app',
      severity: 'error',
      comment:
        'Packages sit below the apps: package code (test-support helpers included) never imports an app. ' +
        "Test helpers that start an app live in tests/helpers. Exempt: a package's own *.test.ts (integration " +
        "tests against the emulator) and the client's codegen script, which reads the API's OpenAPI document.",
      from: {
        path: '^packages/',
        pathNot: ['\\.test\\.ts$', '^packages/client/scripts/generate\\.ts$'],
      },
      to: { path: '^apps/' },
    },
    {
      name: 'source-not-to-tests',
      severity: 'error',
      comment: 'Shipped code never imports the tests tree (only *.test.ts files may use tests/helpers).',
      from: { path: '^(apps|packages)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^tests/' },
    },
    {
      // Without this an import of an app that a package.json does not list would resolve to nothing
      // and slip past the rules above (typecheck would also fail on it).
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'Every import resolves to a file or an installed package.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles between modules at run time (a cycle closed by a type-only import is the no-circular-type-only warning).',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      // A warning, not an error: it did not pass when the rule came in. Known today:
      // packages/tabpfn/src/fit.ts -> poll.ts -> (import type { FlowContext }) fit.ts.
      name: 'no-circular-type-only',
      severity: 'warn',
      comment: 'An import cycle closed only by a type import (no run-time cycle, but still a tangle).',
      from: {},
      to: { circular: true, via: { dependencyTypes: ['type-only'] } },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['(^|/)node_modules/', '(^|/)dist/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // `development` first: workspace packages then resolve to their src/*.ts, as under tsx and jest.
      conditionNames: ['development', 'import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.cjs', '.mjs', '.json', '.d.ts'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    cache: false,
  },
};
