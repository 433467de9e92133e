import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { snapshot, startFederation, writeTree, type Federation } from "../helpers/federation.js";

function assertSameTrees(fed: Federation, options: { mtimes?: boolean } = {}) {
  const [first, ...rest] = fed.agents.map((agent) => snapshot(agent.root(), options));
  for (const [i, other] of rest.entries()) {
    assert.deepEqual(
      Object.fromEntries(other!),
      Object.fromEntries(first!),
      `agent ${fed.agents[i + 1]!.name} differs from a`,
    );
  }
}

async function syncAll(fed: Federation, rounds = 1) {
  for (let round = 0; round < rounds; round++) {
    for (const agent of fed.agents) await fed.sync(agent);
  }
}

describe("heavyweight passes between three machines", () => {
  let fed: Federation;
  before(async () => {
    fed = await startFederation(3);
  });
  after(async () => {
    await fed.close();
  });

  // The step-by-step cases (convergence, edits against deletions) are scenarios: test/scenarios/*.yaml.

  test("the same file edited on A and B: a conflict copy everywhere, both contents kept", async () => {
    const [a, b] = fed.agents as [(typeof fed.agents)[0], (typeof fed.agents)[0]];
    writeTree(a.root(), { "deep/er/still/file.txt": "deep" });
    await syncAll(fed);
    writeFileSync(a.path("deep/er/still/file.txt"), "version from a");
    utimesSync(a.path("deep/er/still/file.txt"), new Date(), new Date(Date.now() - 60_000));
    writeFileSync(b.path("deep/er/still/file.txt"), "version from b (newer)");
    await fed.sync(a);
    const result = await fed.sync(b);
    assert.match(result.stderr, /conflict: both sides changed deep\/er\/still\/file\.txt/);
    await syncAll(fed);
    assertSameTrees(fed);
    const names = readdirSync(fed.agents[2]!.path("deep/er/still")).sort();
    assert.equal(names.length, 2, names.join(", "));
    const copy = names.find((n) => n.startsWith("file.fedsync-conflict-"))!;
    assert.match(copy, /^file\.fedsync-conflict-\d{8}-\d{6}-machine-a\.txt$/);
    assert.equal(
      readFileSync(fed.agents[2]!.path("deep/er/still/file.txt"), "utf8"),
      "version from b (newer)",
    );
    assert.equal(readFileSync(fed.agents[2]!.path(`deep/er/still/${copy}`), "utf8"), "version from a");
    const listed = await fed.run(b, ["conflicts", "--json"]);
    assert.equal(listed.code, 0);
    const conflicts = JSON.parse(listed.stdout) as { path: string; copyPath: string; loser: string }[];
    assert.deepEqual(
      conflicts.map((c) => [c.path, c.copyPath, c.loser]),
      [["deep/er/still/file.txt", `deep/er/still/${copy}`, "machine-a"]],
    );
    // A, whose version lost, lists the copy too: it was made on B and synced here.
    const onA = await fed.run(a, ["conflicts"]);
    assert.equal(onA.code, 0);
    assert.match(
      onA.stdout,
      new RegExp(
        `deep/er/still/file\\.txt {2}made on another machine {2}copy: deep/er/still/${copy.replace(/\./g, "\\.")} \\(machine-a\\)`,
      ),
    );
  });

  test("a renamed directory of 1,000 files arrives renamed, the old name gone", async () => {
    const [a, b] = fed.agents as [(typeof fed.agents)[0], (typeof fed.agents)[0]];
    const files: Record<string, string> = {};
    for (let i = 0; i < 1000; i++) files[`assets/img-${i}.txt`] = `image ${i}`;
    for (let i = 0; i < 1200; i++) files[`pages/p-${i}.html`] = `page ${i}`;
    writeTree(a.root(), files);
    await syncAll(fed);
    renameSync(a.path("assets"), a.path("static"));
    await syncAll(fed, 2);
    assertSameTrees(fed);
    assert.equal(existsSync(b.path("assets")), false);
    assert.equal(readdirSync(b.path("static")).length, 1000);
    assert.equal(readFileSync(b.path("static/img-999.txt"), "utf8"), "image 999");
  });

  test("a file replaced by a directory (and back) converges", async () => {
    const [a, b] = fed.agents as [(typeof fed.agents)[0], (typeof fed.agents)[0]];
    writeFileSync(a.path("switch"), "a file");
    await syncAll(fed);
    rmSync(a.path("switch"));
    writeTree(a.root(), { "switch/inside.txt": "now a dir" });
    await syncAll(fed, 2);
    assertSameTrees(fed);
    assert.equal(readFileSync(b.path("switch/inside.txt"), "utf8"), "now a dir");
    rmSync(b.path("switch"), { recursive: true });
    writeFileSync(b.path("switch"), "a file again");
    await syncAll(fed, 2);
    assertSameTrees(fed);
    assert.equal(readFileSync(a.path("switch"), "utf8"), "a file again");
  });

  test("a machine offline while others delete and add: deletions applied, nothing resurrected", async () => {
    const [a, b, c] = fed.agents as [(typeof fed.agents)[0], (typeof fed.agents)[0], (typeof fed.agents)[0]];
    writeTree(a.root(), { "index.html": "<h1>hi</h1>" });
    await syncAll(fed);
    rmSync(a.path("pages/p-1.html"));
    rmSync(a.path("index.html"));
    writeFileSync(b.path("added-while-c-away.txt"), "new");
    await fed.sync(a);
    await fed.sync(b);
    await fed.sync(a);
    await fed.sync(c);
    await syncAll(fed);
    assertSameTrees(fed);
    assert.equal(existsSync(c.path("index.html")), false);
    assert.equal(existsSync(a.path("index.html")), false);
    assert.equal(readFileSync(c.path("added-while-c-away.txt"), "utf8"), "new");
  });

  test("an emptied or missing set root trips the guard and the bucket keeps its copy", async () => {
    const [a, b] = fed.agents as [(typeof fed.agents)[0], (typeof fed.agents)[0]];
    const before = snapshot(b.root());
    renameSync(a.root(), `${a.root()}.moved`);
    const missing = await fed.sync(a, [], 1);
    assert.match(missing.stderr, /set root .* is missing but the journal knows \d+ entries/);
    mkdirSync(a.root());
    const replaced = await fed.sync(a, [], 1);
    assert.match(replaced.stderr, /set root .* is not the directory synced before/);
    // Accepting the new directory does not lift the guards: it is empty while the journal knows the set.
    const emptied = await fed.sync(a, ["--accept-new-root"], 1);
    assert.match(emptied.stderr, /set root .* is empty but the journal knows \d+ entries/);
    await fed.sync(b);
    assert.deepEqual(snapshot(b.root()), before);
    rmSync(a.root(), { recursive: true });
    renameSync(`${a.root()}.moved`, a.root());
    await fed.sync(a, ["--accept-new-root"]);
    assertSameTrees(fed);
  });

  test("deleting most of a set trips the ratio guard until --allow-mass-delete", async () => {
    const [a, b] = fed.agents as [(typeof fed.agents)[0], (typeof fed.agents)[0]];
    rmSync(a.path("pages"), { recursive: true });
    rmSync(a.path("static"), { recursive: true });
    const tripped = await fed.sync(a, [], 1);
    assert.match(
      tripped.stderr,
      /deletion guard: this pass would delete \d+ of \d+ entries on the bucket side/,
    );
    await fed.sync(b);
    assert.equal(readdirSync(b.path("pages")).length, 1199);
    const dry = await fed.sync(a, ["--dry-run", "--allow-mass-delete"]);
    assert.match(dry.stdout, /web\tdelete-remote\tpages\/p-0\.html/);
    await fed.sync(a, ["--allow-mass-delete"]);
    await fed.sync(b, ["--allow-mass-delete"]);
    assert.equal(existsSync(b.path("pages")), false);
    assert.equal(existsSync(join(b.root(), "static")), false);
  });
});

describe("a machine back after its tombstones expired", () => {
  let fed: Federation;
  before(async () => {
    fed = await startFederation(3, [{ name: "web" }], {
      tombstone_retention: "1s",
      unmarked_deletion_delay: "0s",
    });
  });
  after(async () => {
    await fed.close();
  });

  test("deletions are applied from the journal, nothing is resurrected", async () => {
    const [a, b, c] = fed.agents as [(typeof fed.agents)[0], (typeof fed.agents)[0], (typeof fed.agents)[0]];
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`page-${i}.html`] = `page ${i}`;
    writeTree(a.root(), files);
    await syncAll(fed);
    for (let i = 0; i < 5; i++) rmSync(a.path(`page-${i}.html`));
    await fed.sync(a);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await fed.sync(b);
    const tombstones: string[] = [];
    for await (const item of fed.minio.client.listObjectsV2(fed.bucket, ".fedsync/web/tombstones/", true)) {
      tombstones.push(String(item.name));
    }
    assert.deepEqual(tombstones, [], "housekeeping kept expired tombstones");
    await fed.sync(c);
    await syncAll(fed);
    assertSameTrees(fed);
    for (let i = 0; i < 5; i++) {
      assert.equal(existsSync(c.path(`page-${i}.html`)), false, `page-${i}.html survived on c`);
      assert.equal(existsSync(a.path(`page-${i}.html`)), false, `page-${i}.html came back on a`);
    }
    assert.equal(readdirSync(c.root()).length, 25);
  });
});
