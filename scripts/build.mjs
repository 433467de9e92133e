/**
 * `npm run build`: bundles the CLI with esbuild into dist/. One file per command's lazily loaded part instead
 * of ~900 module files: a command starts in about half the time and memory. Native modules stay external.
 */
import { build } from "esbuild";

/**
 * The S3 client imports mime-types (and its 200 KB JSON database) only to guess a content type in upload
 * calls fedsync does not use: each command that talks to the bucket would parse it at start for nothing.
 */
const withoutMimeDatabase = {
  name: "without-mime-database",
  setup(build) {
    build.onResolve({ filter: /^mime-types$/ }, () => ({ path: "mime-types", namespace: "unused" }));
    build.onLoad({ filter: /.*/, namespace: "unused" }, () => ({
      contents: "export function lookup() { return false; }",
      loader: "js",
    }));
  },
};

await build({
  entryPoints: { cli: "src/cli.ts", "write-manpage": "src/cli/write-manpage.ts" },
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["better-sqlite3", "@parcel/watcher", "sd-notify"],
  // Bundled CommonJS packages require Node's built-in modules.
  banner: {
    js: 'import { createRequire as fedsyncRequire } from "node:module"; const require = fedsyncRequire(import.meta.url);',
  },
  plugins: [withoutMimeDatabase],
  logLevel: "warning",
});
