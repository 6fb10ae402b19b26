/**
 * The layering of the house, checked by `npm run lint` (`npm run lint:deps`), like a linker script that
 * refuses a section in the wrong segment. Each rule names the direction it keeps; a violation prints the
 * importing file, the imported file and the rule's name (its comment below says why).
 *
 * Dependencies point one way (the style guide's list; the root README's Layout):
 *
 *   cli ─► frontend ─► router ──────────────────────┐
 *    │     worker ──► engine ─► model, kv ─► tokens ─┼─► protocols (imports nothing)
 *    │       │   └──► mocker ─► engine, kv           └─► util      (imports nothing in src/)
 *    │       └──────► runtime ─► protocols, util
 *    ├─► infra: local etcd/NATS for `dhw infra up`, tests and labs; never imported by the serving code
 *    └─► loadgen (`dhw bench`, a client) ─► replay (trace format), tokens, util
 *
 * Tests (`*.test.ts`), test kits (`testing/` folders) and conformance suites (`*.conformance.ts`) may reach
 * further (a frontend test starts an etcd from infra/), but never break the rules that say "All files".
 *
 * Parsing: the TypeScript package here is the native compiler (7.x), which has no JavaScript API, so
 * dependency-cruiser reads `.ts` with swc (`@swc/core`, a dev dependency). Imports carry their `.ts`
 * extension (tsconfig's allowImportingTsExtensions), so they resolve as plain files.
 */

/** Files that only run under the test runner, or only serve tests. */
const TEST_ONLY = '(\\.test\\.ts$|\\.check\\.ts$|/testing/|\\.conformance\\.ts$)';

/**
 * What each component's production code may import inside src/, besides itself (today's graph, which matches
 * the style guide's direction; protocols/ has its own stricter rule below). cli/, replay/, worker/ and transfer/
 * sit at or near the top and are bounded by the named rules instead.
 */
const MAY_IMPORT = {
  util: ['protocols'],
  tokens: ['protocols', 'util'],
  model: ['protocols', 'util'],
  kv: ['protocols', 'util', 'tokens'],
  engine: ['protocols', 'util', 'tokens', 'model', 'kv'],
  mocker: ['protocols', 'util', 'tokens', 'kv', 'engine'],
  runtime: ['protocols', 'util'],
  infra: ['protocols', 'util'],
  cluster: ['protocols', 'util', 'infra'],
  router: ['protocols', 'util', 'tokens'],
  frontend: ['protocols', 'util', 'tokens', 'router', 'runtime'],
  transfer: ['protocols', 'util', 'runtime'],
  worker: ['protocols', 'util', 'tokens', 'model', 'kv', 'engine', 'mocker', 'runtime', 'transfer'],
  replay: ['protocols', 'util', 'tokens', 'kv', 'engine', 'mocker', 'router'],
  // The load generator is a client: it reads traces (replay's format) and tokenizers, never the server side.
  loadgen: ['protocols', 'util', 'tokens', 'replay'],
};

/**
 * Violations that open work is removing: reported as warnings so `npm run lint` passes while they are on
 * their way out (`rule name: path regex`). Empty now; delete an entry when its work lands, and the rule
 * fails on any return.
 */
const KNOWN = {};

/** A rule as an error everywhere except the known files, and the same rule as a warning on them. */
function withKnown(rule) {
  const known = KNOWN[rule.name];
  if (!known) return [rule];
  const pathNot = rule.from.pathNot ? `(${rule.from.pathNot}|${known})` : known;
  return [
    { ...rule, from: { ...rule.from, pathNot } },
    {
      ...rule,
      name: `${rule.name}-known`,
      severity: 'warn',
      comment: `KNOWN, being removed by another branch (see KNOWN in .dependency-cruiser.cjs). ${rule.comment}`,
      from: { ...rule.from, path: known },
    },
  ];
}

const layerRules = Object.entries(MAY_IMPORT).map(([component, allowed]) => ({
  name: `layer-${component}`,
  severity: 'error',
  comment:
    `src/${component}/ may import only ${allowed.length ? allowed.map((c) => `${c}/`).join(', ') : 'nothing else in src/'}` +
    ' (dependencies point down; see .dependency-cruiser.cjs)',
  from: { path: `^src/${component}/`, pathNot: TEST_ONLY },
  to: { path: '^src/', pathNot: `^src/(${[component, ...allowed].join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'labs-share-through-lib',
      severity: 'error',
      comment:
        "A lab imports another lab's folder. Move the shared helper into labs/lib/ and import it from there.",
      from: { path: '^labs/(level-[^/]+/[^/]+)/' },
      to: { path: '^labs/level-', pathNot: '^labs/$1/' },
    },
    ...[
      {
        name: 'no-circular',
        severity: 'error',
        comment:
          'All files: an import circle between modules. Move the shared piece down into its own module.',
        from: {},
        to: { circular: true },
      },
      {
        name: 'no-circular-folders',
        scope: 'folder',
        severity: 'error',
        comment: 'All files: two folders that import each other. One of them should own the shared piece.',
        from: {},
        to: { circular: true },
      },
      {
        name: 'protocols-import-nothing',
        severity: 'error',
        comment:
          'src/protocols/ is the wire contract: plain types and validators that import nothing, not even Node built-ins.',
        from: { path: '^src/protocols/', pathNot: TEST_ONLY },
        to: { pathNot: '^src/protocols/' },
      },
      {
        name: 'router-never-imports-engine',
        severity: 'error',
        comment:
          'All files: the router sees workers only through discovery entries and events (that is why the mocker ' +
          'can stand in); it never imports engine/, kv/, model/ or mocker/.',
        from: { path: '^src/router/' },
        to: { path: '^src/(engine|kv|model|mocker)/' },
      },
      {
        name: 'frontend-never-imports-engine',
        severity: 'error',
        comment:
          'All files: the frontend talks to engines only over the request plane, even in tests (workers are child ' +
          'processes or scripted engines).',
        from: { path: '^src/frontend/' },
        to: { path: '^src/(engine|kv|model|mocker|worker)/' },
      },
      {
        name: 'transfer-below-frontend-and-router',
        severity: 'error',
        comment: 'src/transfer/ moves KV blocks between workers; it never imports frontend/ or router/.',
        from: { path: '^src/transfer/' },
        to: { path: '^src/(frontend|router)/' },
      },
      {
        name: 'nothing-imports-cli',
        severity: 'error',
        comment: 'All files: cli/ is the top; only cli/ itself (and bin/dhw.mjs) imports it.',
        from: { pathNot: '^src/cli/' },
        to: { path: '^src/cli/' },
      },
      {
        name: 'infra-is-dev-tooling',
        severity: 'error',
        comment:
          'src/infra/ starts local etcd/NATS for `dhw infra up`, tests and labs; the serving code never imports ' +
          'it (only cli/, cluster/ (emulated nodes, also dev tooling), tests, test kits, labs/ and bench/ do).',
        from: { path: '^src/', pathNot: `(^src/(cli|infra|cluster)/|${TEST_ONLY})` },
        to: { path: '^src/infra/' },
      },
      {
        name: 'no-test-kits-in-production',
        severity: 'error',
        comment: 'Test kits (testing/ folders) and conformance suites serve tests only.',
        from: { pathNot: TEST_ONLY },
        to: { path: '(/testing/|\\.conformance\\.ts$)' },
      },
      {
        name: 'src-never-imports-bench-or-labs',
        severity: 'error',
        comment: 'src/ is the product; bench/ and labs/ use it, never the other way round.',
        from: { path: '^src/' },
        to: { path: '^(bench|labs)/' },
      },
      {
        name: 'no-unresolvable',
        severity: 'error',
        comment: 'An import that resolves to no file: a typo, a moved module, or a missing dependency.',
        from: {},
        to: { couldNotResolve: true },
      },
      ...layerRules,
    ].flatMap(withKnown),
  ],
  options: {
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    moduleSystems: ['es6', 'cjs'],
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.mjs', '.js', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
