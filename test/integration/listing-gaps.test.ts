import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { PassThrough } from "node:stream";
import { loadConfig } from "../../src/config/index.js";
import { createMinioDatastore } from "../../src/datastore/index.js";
import { encodeEntryMeta } from "../../src/datastore/metadata.js";
import { Journal } from "../../src/journal/journal.js";
import { createLogger } from "../../src/log/index.js";
import { runPass } from "../../src/reconcile/pass.js";
import type { PassScope } from "../../src/reconcile/sources.js";
import { startFederation, type Agent, type Federation, type SetSpec } from "../helpers/federation.js";
import { startS3Proxy, type S3Proxy } from "../helpers/s3-proxy.js";
import { AgentProcess, waitUntil } from "../helpers/agent-process.js";

interface SyncJson {
  sets: { set: string; ok: boolean; bucket: "listing" | "journal"; counts: Record<string, number> }[];
}

/**
 * A listing that leaves out objects which still exist, as a distributed MinIO's can while a write or a heal
 * is under way: a goes through a proxy that hides keys from its listings, b talks to MinIO directly.
 */
describe("listings that leave out objects that exist", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let proxy: S3Proxy;

  const syncJson = async (agent: Agent, ...args: string[]) => {
    const result = await fed.sync(agent, ["--json", ...args]);
    const [set] = (JSON.parse(result.stdout) as SyncJson).sets;
    assert.equal(set!.ok, true, result.stderr);
    return { ...set!, stderr: result.stderr };
  };

  before(async () => {
    fed = await startFederation(2, [{ name: "web" }], { unmarked_deletion_delay: "5s" });
    [a, b] = fed.agents as [Agent, Agent];
    proxy = await startS3Proxy(fed.minio);
    a.writeConfig(undefined, {
      datastore: fed.datastoreConfig(proxy.endpoint),
    });
    writeFileSync(a.path("kept.txt"), "kept\n");
    writeFileSync(a.path("edited.txt"), "first\n");
    await syncJson(a);
    await syncJson(b);
  });
  after(async () => {
    proxy?.close();
    await fed?.close();
  });

  test("a file whose object a listing leaves out is not deleted, and the pass does not fail", async () => {
    proxy.hiddenFromListings.add("web/kept.txt");
    try {
      for (let pass = 0; pass < 2; pass++) {
        const result = await syncJson(a, "--full-listing");
        assert.equal(result.bucket, "listing");
        assert.equal(result.counts.deletedLocal, 0);
        assert.equal(result.counts.failed, 0);
        assert.equal(readFileSync(a.path("kept.txt"), "utf8"), "kept\n");
      }
    } finally {
      proxy.hiddenFromListings.clear();
    }
  });

  test("an object removed without a deletion mark: the file goes only once a pass still finds it gone unmarked_deletion_delay later", async () => {
    writeFileSync(a.path("gone.txt"), "removed by another S3 client\n");
    await syncJson(a);
    await syncJson(b);
    await fed.minio.client.removeObject(fed.bucket, "web/gone.txt");
    // A dry run shows what a pass would do now: keep the file, for the while.
    const dry = await fed.run(b, ["sync", "--dry-run", "--full-listing"]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.doesNotMatch(dry.stdout, /delete-local\tgone\.txt/);
    const first = await syncJson(b, "--full-listing");
    assert.equal(first.counts.deletedLocal, 0);
    assert.match(first.stderr, /gone\.txt: its object is gone from the bucket without a deletion mark/);
    assert.equal(readFileSync(b.path("gone.txt"), "utf8"), "removed by another S3 client\n");
    await new Promise((resolve) => setTimeout(resolve, 5000 + 1000));
    const dryLater = await fed.run(b, ["sync", "--dry-run"]);
    assert.match(dryLater.stdout, /delete-local\tgone\.txt/);
    // The pass lists the bucket without being asked to: the object was found gone before.
    const later = await syncJson(b);
    assert.equal(later.bucket, "listing");
    assert.equal(later.counts.deletedLocal, 1);
    assert.equal(existsSync(b.path("gone.txt")), false);
    // a's copy would keep a's passes listing the bucket until it goes too: not what the next tests are about.
    rmSync(a.path("gone.txt"));
  });

  test("another machine's new version and new file reach a in the pass whose listing leaves them out", async () => {
    writeFileSync(b.path("edited.txt"), "second, from b\n");
    writeFileSync(b.path("new.txt"), "new on b\n");
    await syncJson(b);
    proxy.hiddenFromListings.add("web/edited.txt").add("web/new.txt");
    try {
      // b's change-log record names both paths; the listing shows neither, so a looks them up directly.
      const result = await syncJson(a);
      assert.equal(result.bucket, "listing");
      assert.equal(result.counts.downloaded, 2);
      assert.equal(readFileSync(a.path("edited.txt"), "utf8"), "second, from b\n");
      assert.equal(readFileSync(a.path("new.txt"), "utf8"), "new on b\n");
      // The record is applied once its paths are synced: the next pass needs no listing.
      assert.equal((await syncJson(a)).bucket, "journal");
    } finally {
      proxy.hiddenFromListings.clear();
    }
  });

  test("a new file that neither the listing nor a look-up shows yet is looked for again until the bucket shows it", async () => {
    writeFileSync(b.path("late.txt"), "written while a's node was down\n");
    await syncJson(b);
    proxy.unknownHere.add("web/late.txt");
    try {
      for (let pass = 0; pass < 2; pass++) {
        // The record's path is looked for on every pass, each listing the bucket, until it shows.
        const result = await syncJson(a);
        assert.equal(result.bucket, "listing");
        assert.equal(result.counts.failed, 0);
        assert.equal(existsSync(a.path("late.txt")), false);
      }
    } finally {
      proxy.unknownHere.clear();
    }
    const shown = await syncJson(a);
    assert.equal(shown.bucket, "listing");
    assert.equal(shown.counts.downloaded, 1);
    assert.equal(readFileSync(a.path("late.txt"), "utf8"), "written while a's node was down\n");
    assert.equal((await syncJson(a)).bucket, "journal");
  });

  test("a write made without its refused condition, then replaced by another machine that never saw it, is kept as a conflict copy", async () => {
    writeFileSync(a.path("race.txt"), "first\n");
    await syncJson(a);
    writeFileSync(a.path("race.txt"), "from a\n");
    proxy.refuseConditionalWrites = true;
    try {
      const written = await syncJson(a);
      assert.equal(written.counts.uploaded, 1);
      assert.match(
        written.stderr,
        /race\.txt: the bucket refused the conditional write although its HEAD showed/,
      );
    } finally {
      proxy.refuseConditionalWrites = false;
    }
    // b, in the same state a moment later, writes its version over a's without a condition and unseen.
    const fromB = Buffer.from("from b\n");
    await createMinioDatastore(loadConfig(b.configPath).datastore).put(
      "web/race.txt",
      fromB,
      fromB.length,
      encodeEntryMeta({
        type: "file",
        sha256: createHash("sha256").update(fromB).digest("hex"),
        mtimeMs: Date.now(),
        mode: 0o644,
        origin: "machine-b",
      }),
    );
    // (A write by another machine leaves a change-log record; this one does not, so the pass is told to list.)
    const kept = await syncJson(a, "--full-listing");
    assert.equal(kept.counts.conflicts, 1);
    assert.match(
      kept.stderr,
      /conflict: both sides changed race\.txt; machine-b's version keeps the name, machine-a's is saved as race\.fedsync-conflict-/,
    );
    assert.equal(readFileSync(a.path("race.txt"), "utf8"), "from b\n");
    const copies = readdirSync(a.root()).filter((name) => name.startsWith("race.fedsync-conflict-"));
    assert.equal(copies.length, 1);
    assert.equal(readFileSync(a.path(copies[0]!), "utf8"), "from a\n");
    await syncJson(b);
    assert.equal(readFileSync(b.path(copies[0]!), "utf8"), "from a\n");

    // A write made with its condition, replaced later, is simply followed.
    writeFileSync(b.path("race.txt"), "b again\n");
    await syncJson(b);
    const followed = await syncJson(a);
    assert.equal(followed.counts.conflicts, 0);
    assert.equal(readFileSync(a.path("race.txt"), "utf8"), "b again\n");
  });

  test("a lightweight pass of a recorded change the bucket does not show yet notes it, and the next pass of the key applies it", async () => {
    writeFileSync(b.path("later.txt"), "also written while a's node was down\n");
    await syncJson(b);
    const etag = (await fed.minio.client.statObject(fed.bucket, "web/later.txt")).etag;
    proxy.unknownHere.add("web/later.txt");
    const config = loadConfig(a.configPath);
    const journal = Journal.open(config.stateDir);
    const pass = (scope: PassScope) =>
      runPass(
        {
          config,
          set: config.sets[0]!,
          journal,
          datastore: createMinioDatastore(config.datastore),
          logger: createLogger({ stream: new PassThrough(), journald: false }),
        },
        { scope },
      );
    try {
      const recorded = [{ path: "later.txt", op: "put" as const, etag }];
      const unseen = await pass({ kind: "keys", keys: ["later.txt"], recorded });
      assert.deepEqual(unseen.awaitedChanges, ["later.txt"]);
      assert.deepEqual(
        journal.awaitedChanges("web").map((change) => change.path),
        ["later.txt"],
      );
      proxy.unknownHere.clear();
      // The look again names only the key (as the agent's timer does): the note says what to expect.
      const seen = await pass({ kind: "keys", keys: ["later.txt"] });
      assert.equal(seen.counts.downloaded, 1);
      assert.deepEqual(seen.awaitedChanges, []);
      assert.deepEqual(journal.awaitedChanges("web"), []);
      assert.equal(readFileSync(a.path("later.txt"), "utf8"), "also written while a's node was down\n");
    } finally {
      proxy.unknownHere.clear();
      journal.close();
    }
  });
});

/**
 * b's node goes down while a writes, and comes back still not showing a's write: b's change-log reads during
 * its settle time must not use up the record, which is the one thing that tells b to look for the write.
 */
describe("a lightweight agent back from an outage", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let proxy: S3Proxy;

  before(async () => {
    const sets: SetSpec[] = [{ name: "conf", method: "lightweight", safety_interval: "1h" }];
    fed = await startFederation(2, sets);
    [a, b] = fed.agents as [Agent, Agent];
    proxy = await startS3Proxy(fed.minio);
    b.writeConfig(sets, {
      // Longer than the change-log reads a failing pass of keys would retry before giving up (6 × 2 s).
      settle_after_outage: "20s",
      datastore: fed.datastoreConfig(proxy.endpoint),
    });
  });
  after(async () => {
    proxy?.close();
    await fed?.close();
  });

  test("a write its node does not show yet when it is back is looked for, and arrives once shown", async () => {
    const agent = new AgentProcess(fed.spawnAgent(b));
    try {
      await agent.waitForLog(/ready/);
      proxy.down = true;
      await agent.waitForLog(/datastore down/, 30_000);
      proxy.unknownHere.add("conf/while-down.conf");
      writeFileSync(a.path("while-down.conf", "conf"), "written while b's node was down\n");
      await fed.sync(a);
      proxy.down = false;
      await agent.waitForLog(/datastore up again; syncing resumes in 20 s/, 90_000);
      await waitUntil(() => awaitedPaths(b).includes("while-down.conf"), 60_000, "b to look for the write");
      assert.equal(existsSync(b.path("while-down.conf", "conf")), false);
      proxy.unknownHere.clear();
      await waitUntil(
        () => existsSync(b.path("while-down.conf", "conf")),
        30_000,
        "the write on b once its node shows it",
        () => agent.output.slice(-3000),
      );
      assert.equal(
        readFileSync(b.path("while-down.conf", "conf"), "utf8"),
        "written while b's node was down\n",
      );
      assert.equal(agent.exitCode, null);
    } finally {
      proxy.down = false;
      await agent.stop();
    }
  });
});

/** The paths b's journal notes as recorded elsewhere but not shown by the bucket yet. */
function awaitedPaths(agent: Agent): string[] {
  const journal = Journal.open(agent.stateDir, { readonly: true });
  try {
    return journal.awaitedChanges("conf").map((change) => change.path);
  } finally {
    journal.close();
  }
}
