// ESLint: the recommended JavaScript and typescript-eslint rules (not the type-checked set: it costs several
// times the run time on a small machine). Layout is Prettier's job; `npm run lint` runs both.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // What .gitignore leaves out: built, generated or local run data.
  { ignores: ['dist/', 'coverage/', 'examples/flows/', 'bench/results/', 'data/', '.punchflow/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `import x = require('…')` is how TypeScript imports the `export =` modules (the nodes, the test helper).
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
      // A leading underscore marks a value left unused on purpose (as TypeScript's own unused checks read it).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Node-RED's constructor idiom: `const node = this` for the callbacks the node registers.
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
    },
  },
  {
    // lib/ and the nodes report through their loggers, the CLI through its streams, the tests through mocha.
    files: ['lib/**', 'nodes/**', 'bin/**', 'test/**'],
    rules: { 'no-console': 'error' },
  },
  {
    // These specs silence the console output of the third-party clients they compare against.
    files: ['test/compat/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // Plain CommonJS scripts: require is their import.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
