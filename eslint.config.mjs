// Lint rules for the TypeScript sources (npm run lint; part of npm test). Formatting is
// prettier's (.prettierrc), so no stylistic rules here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', '**/*.js'] },
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
    files: ['src/backend/**', 'src/models/bundled.ts', 'src/models/onnx/net.ts', 'bench/**'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests match terminal output, escape codes and aligned columns included.
    files: ['test/**'],
    rules: { 'no-control-regex': 'off', 'no-regex-spaces': 'off' },
  },
);
