import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../helpers/federation.js";

test("the package ships the built program and what it reads, and nothing that points at unshipped files", () => {
  const [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--dry-run", "--json"], { cwd: repoRoot, encoding: "utf8" }),
  ) as { files: { path: string }[] }[];
  const files = packed!.files.map((file) => file.path);
  for (const needed of [
    "dist/cli.js",
    "migrations/001_initial.sql",
    "systemd/fedsync.service",
    "fedsync.example.yaml",
  ]) {
    assert.ok(files.includes(needed), `${needed} is missing from the package`);
  }
  assert.deepEqual(
    files.filter((file) => file.endsWith(".map") || file.startsWith("src/")),
    [],
    "no source maps, no sources",
  );
  for (const file of files.filter((f) => f.endsWith(".js"))) {
    assert.doesNotMatch(readFileSync(join(repoRoot, file), "utf8"), /sourceMappingURL/, file);
  }
});
