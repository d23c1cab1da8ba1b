import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js', '!web/**/*.js', 'vitest.config.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    // The dashboard's browser modules: plain JavaScript with JSDoc types, checked by
    // web/tsconfig.json (tsc -p web); linted here without type information.
    files: ['web/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'module',
      globals: Object.fromEntries(
        [
          'AbortController',
          'AbortSignal',
          'console',
          'document',
          'fetch',
          'getComputedStyle',
          'HTMLButtonElement',
          'HTMLCanvasElement',
          'HTMLElement',
          'HTMLFormElement',
          'HTMLInputElement',
          'HTMLSelectElement',
          'HTMLTableElement',
          'HTMLTableSectionElement',
          'ImageData',
          'KeyboardEvent',
          'matchMedia',
          'Node',
          'performance',
          'ResizeObserver',
          'sessionStorage',
          'setInterval',
          'setTimeout',
          'clearTimeout',
          'TextDecoderStream',
          'TextEncoder',
          'window',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
