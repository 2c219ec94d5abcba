// The README's code map as rules: which folder of shared/src may import which, and that services
// import only the library. `npm run lint` runs `depcruise` with this file.

/** Each library folder and the folders it may import (errors.ts and project-root.ts are open to all). */
const MAY_IMPORT = {
  corpus: [],
  prompt: ['corpus'],
  model: [],
  graph: ['model'],
  features: ['graph', 'model', 'prompt'],
  scoring: [],
  output: [],
  storage: ['corpus'],
  'feature-cache': ['features', 'graph', 'prompt', 'scoring', 'storage'],
  audit: ['corpus', 'prompt', 'model', 'graph', 'features', 'scoring', 'output', 'storage', 'feature-cache', 'report'],
  bus: [],
  distributed: ['audit', 'corpus', 'graph', 'output', 'scoring'],
  cluster: ['audit', 'bus', 'distributed', 'storage'],
  observability: ['bus', 'cluster'],
  service: ['cluster', 'observability'],
  k8s: ['distributed'],
  // safesift filter: reads an audit's outputs (local or cluster layout) and copies corpus files.
  filter: ['corpus', 'storage', 'output', 'scoring', 'cluster'],
  // safesift report: reads an audit's outputs (local or cluster layout) and writes report.html beside them.
  report: ['corpus', 'prompt', 'storage', 'feature-cache', 'scoring'],
};

const folderRules = Object.entries(MAY_IMPORT).map(([folder, allowed]) => ({
  name: `shared-${folder}`,
  comment: `shared/src/${folder} may import only ${allowed.length ? allowed.join(', ') : 'no other folder'} (README, code map)`,
  severity: 'error',
  from: { path: `^shared/src/${folder}/` },
  to: { path: `^shared/src/(?!(?:${[folder, ...allowed].join('|')})/)[^/]+/` },
}));

module.exports = {
  forbidden: [
    ...folderRules,
    {
      name: 'no-circular',
      comment: 'import cycles between files',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'services-stay-apart',
      comment: 'a service imports the library, never another service',
      severity: 'error',
      from: { path: '^services/([^/]+)/', pathNot: '^services/cli/' },
      to: { path: '^services/', pathNot: '^services/$1/' },
    },
    {
      name: 'cli-starts-services-by-main',
      comment: 'the CLI runs a service (`safesift worker`) through its main.ts, never its internals',
      severity: 'error',
      from: { path: '^services/cli/' },
      to: { path: '^services/(?!cli/)[^/]+/', pathNot: '^services/[^/]+/src/main[.]ts$' },
    },
    {
      name: 'packages-import-each-other-by-name',
      comment: 'a service reaches another package (the library, a service) by its name (@safesift/core/...), never by a relative path',
      severity: 'error',
      from: { path: '^services/([^/]+)/' },
      to: { path: '^(shared|services)/', pathNot: '^services/$1/', dependencyTypes: ['local'] },
    },
    {
      name: 'library-imports-no-service',
      comment: 'shared/ is below every service',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^(services|bench|test|test-fixtures)/' },
    },
    {
      name: 'unlisted-library-folder',
      comment: 'a new folder under shared/src needs its line in MAY_IMPORT (and the code map)',
      severity: 'error',
      from: { path: `^shared/src/(?!(?:${Object.keys(MAY_IMPORT).join('|')})/)[^/]+/` },
      to: { path: '^shared/src/[^/]+/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'], exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
  },
};
