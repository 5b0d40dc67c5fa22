// Lint rules for the TypeScript sources (npm run lint; part of npm test). Formatting is
// prettier's (.prettierrc), so no stylistic rules here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', '**/*.js', '!src/web/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_name` marks a parameter or a destructured field that is deliberately unused.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Optional native packages (tfjs-node, onnxruntime-node, the threaded wasm build) are loaded
    // with require() inside try/catch, so that advserve runs where they are missing.
    files: ['src/backend/**', 'src/models/bundled.ts', 'src/models/onnx/available.ts', 'bench/**'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The web page's modules (src/web): plain JavaScript for the browser.
    files: ['src/web/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['document', 'window', 'localStorage', 'fetch', 'FormData', 'Blob', 'URL', 'TextDecoderStream', 'Option', 'atob', 'setTimeout', 'AbortController'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // Tests match terminal output, escape codes and aligned columns included.
    files: ['test/**'],
    rules: { 'no-control-regex': 'off', 'no-regex-spaces': 'off' },
  },
);
