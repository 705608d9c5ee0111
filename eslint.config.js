// Lint: typescript-eslint's recommended rules on top of `tsc --strict` (which does the heavy lifting).
import tseslint from "typescript-eslint";

export default tseslint.config(
  // The 2026.1.29 libsignal stub is CommonJS on purpose: it stands in for a CommonJS package inside the old gateway.
  { ignores: ["node_modules/", ".cache/", "test-artifacts/", "bench/results/", "test/gateway/openclaw-2026.1.29/libsignal-stub/"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
);
