import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * Which parts of src/ each part may import: dependencies point down, from the CLI to the agent, the engine
 * (reconcile) and the incoming path (watch), to the journal, the datastore and the tree scan, to config and
 * logging. docs/design.md ("Map of the code") says what each part owns.
 */
const STORES = ["journal", "datastore", "scan", "config", "log"];
const LAYERS = {
  config: [],
  log: [],
  scan: ["config", "log"],
  journal: ["scan", "config", "log"],
  datastore: ["scan", "config", "log"],
  history: STORES,
  watch: STORES,
  reconcile: ["history", ...STORES],
  hooks: ["history", "scan", "config", "log"],
  metrics: ["reconcile", "hooks", "history", ...STORES],
  agent: ["metrics", "hooks", "reconcile", "watch", "history", ...STORES],
  cli: ["agent", "metrics", "hooks", "reconcile", "watch", "history", ...STORES],
};

const layerRules = Object.entries(LAYERS).map(([part, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((other) => other !== part && !allowed.includes(other));
  return {
    files: [`src/${part}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              // A part's subfolders (src/reconcile/pass/...) reach the other parts one level further up.
              group: ["../", "../../"].flatMap((up) => [
                ...forbidden.map((other) => `${up}${other}/*`),
                `${up}cli.js`,
              ]),
              message: `src/${part} may import only from ${allowed.join(", ") || "no other part"} (eslint.config.js LAYERS)`,
            },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        URL: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  ...layerRules,
);
