import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { plan, type PlanInput } from "../../src/reconcile/planner.js";
import { base, DECISION_TABLE, keepBoth, local, remote, renderDecisionTable } from "./decision-table.js";

const decide = (input: Omit<PlanInput, "key">, policy = keepBoth) => plan({ key: "f.txt", ...input }, policy);

for (const row of DECISION_TABLE) {
  test(`decision table: L ${row.l}, R ${row.r}: ${row.action}`, () => {
    for (const [i, { input, policy, expect }] of row.cases.entries()) {
      assert.deepEqual(decide(input, policy), expect, `case ${i + 1}`);
    }
  });
}

test("the decision table in docs/design.md is the one these tests run (npm run docs:decisions)", () => {
  const design = readFileSync(resolve(import.meta.dirname, "../../docs/design.md"), "utf8");
  assert.ok(design.includes(renderDecisionTable() + "\n"), "docs/design.md's decision table differs");
});

test("a chmod or touch alone is a local change", () => {
  assert.equal(
    decide({ local: local("a", 1000, { mode: 0o600 }), base: base("a"), remote: remote("a") }).kind,
    "upload",
  );
  assert.equal(decide({ local: local("a", 2000), base: base("a"), remote: remote("a") }).kind, "upload");
});

test("a kept file stays put until it changes, then it is published again", () => {
  assert.deepEqual(decide({ local: local("a"), base: base("a", null) }), { kind: "none" });
  assert.deepEqual(decide({ local: local("b"), base: base("a", null) }), {
    kind: "upload",
    dropTombstone: false,
  });
});

test("modes compare within mode_mask: a world-writable bit alone is no difference", () => {
  assert.deepEqual(
    decide({
      local: local("a", 1000, { mode: 0o664 }),
      base: base("a", "e1", { mode: 0o664 }),
      remote: remote("a", "e1", 1000, { mode: 0o666 }),
    }),
    { kind: "none" },
  );
});

test("type change file -> symlink at the same key is a local change", () => {
  const link = local("", 1000, { type: "symlink", target: "other", sha256: undefined });
  assert.deepEqual(decide({ local: link, base: base("a"), remote: remote("a") }), {
    kind: "upload",
    ifMatch: "e1",
    dropTombstone: false,
  });
});

test("directories: both new agree; a mode change is a change", () => {
  const dir = { type: "dir" as const, size: 0, mtimeMs: 5, mode: 0o755, owner: "www", group: "www" };
  assert.deepEqual(
    decide({ local: dir, remote: remote("", "d1", 9, { type: "dir", sha256: undefined, mode: 0o755 }) }),
    {
      kind: "record",
    },
  );
  const dirBase = base("", "d1", { type: "dir", sha256: null, mode: 0o755, mtimeMs: 1 });
  const dirObject = remote("", "d1", 9, { type: "dir", mode: 0o755 });
  assert.deepEqual(decide({ local: dir, base: dirBase, remote: dirObject }), {
    kind: "none",
  });
  assert.equal(decide({ local: { ...dir, mode: 0o700 }, base: dirBase, remote: dirObject }).kind, "upload");
});

test("a change that keeps the bytes (and so the ETag) is still a remote change", () => {
  const chmodded = remote("a", "e1", 1000, { mode: 0o600 });
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: chmodded }), { kind: "download" });
  const touched = remote("a", "e1", 5000);
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: touched }), { kind: "download" });
  const link = {
    type: "symlink" as const,
    size: 0,
    mtimeMs: 1,
    mode: 0o777,
    owner: "www",
    group: "www",
    target: "x",
  };
  const linkBase = base("", "empty", { type: "symlink", sha256: null, target: "x" });
  const retargeted = remote("", "empty", 1, { type: "symlink", sha256: undefined, target: "y" });
  assert.deepEqual(decide({ local: link, base: linkBase, remote: retargeted }), { kind: "download" });
  const dirBase = base("", "empty", { type: "dir", sha256: null, mode: 0o755 });
  const dir = { type: "dir" as const, size: 0, mtimeMs: 1, mode: 0o755, owner: "www", group: "www" };
  const dirObject = remote("", "empty", 1, { type: "dir", sha256: undefined, mode: 0o700 });
  assert.deepEqual(decide({ local: dir, base: dirBase, remote: dirObject }), { kind: "download" });
});

test("setuid bits, owner and group of the object are not remote changes", () => {
  const setuid = remote("a", "e1", 1000, { mode: 0o4644, owner: "root", group: "wheel" });
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: setuid }), { kind: "none" });
});
