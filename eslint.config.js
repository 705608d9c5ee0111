// Lint: typescript-eslint's recommended rules on top of `tsc --strict` (which does the heavy lifting).
import tseslint from "typescript-eslint";

export default tseslint.config(
  // The 2026.1.29 libsignal stub is CommonJS on purpose: it stands in for a CommonJS package inside the old gateway.
  {
    ignores: [
      "node_modules/",
      ".cache/",
      "test-artifacts/",
      "bench/results/",
      "test/gateway/openclaw-2026.1.29/libsignal-stub/",
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Prettier (printWidth 120, `npm run lint` checks it) lays the code out; it never breaks a string, so a message,
      // a regular expression or a URL may run longer. Everything else, comments included, stays within 120.
      "max-len": [
        "error",
        { code: 120, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true },
      ],
    },
  },
);
