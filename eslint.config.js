// Lint: type-aware rules (no floating promises) everywhere; workflow code may not import Node built-ins.
const tseslint = require('typescript-eslint');
const { builtinModules } = require('module');

module.exports = tseslint.config(
  { ignores: ['node_modules/**', '.lab/**', 'bin/**', 'bench/run.js', 'eslint.config.js', 'jest.config.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts', 'model/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: builtinModules.flatMap((m) => [m, `node:${m}`]).map((name) => ({ name, message: 'workflow and model code must stay deterministic: no Node built-ins' })),
        patterns: [{ allowTypeImports: true, group: ['../activities/*', '../lib/*', '../workers/*', '../cli/*'], message: 'workflows and the model import only model code and activity types' }],
      }],
    },
  },
);
