import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config/index.js";
import { createMinioDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { Journal } from "../../src/journal/journal.js";
import { createLogger } from "../../src/log/index.js";
import { runPass, type PassResult } from "../../src/reconcile/pass.js";
import type { PassScope } from "../../src/reconcile/sources.js";
import { useFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";
import { passSummary } from "../helpers/checks.js";

/** The datastore with `before(key)` run ahead of each call of `method` (another machine acting in between). */
function interpose(
  datastore: Datastore,
  method: "stat" | "deleteIfCurrent" | "get",
  before: (key: string) => Promise<void>,
): Datastore {
  return new Proxy(datastore, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      if (property !== method) return value.bind(target) as unknown;
      return async (key: string, ...rest: unknown[]) => {
        await before(key);
        return (value as (...args: unknown[]) => unknown).call(target, key, ...rest);
      };
    },
  });
}

/** One pass of `agent`'s set in this process, over `wrap(datastore)`; its log lines are returned with it. */
async function passOn(
  agent: Agent,
  wrap: (datastore: Datastore) => Datastore,
  scope?: PassScope,
): Promise<{ result: PassResult; log: string }> {
  const config = loadConfig(agent.configPath);
  const journal = Journal.open(config.stateDir);
  let log = "";
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      log += chunk.toString();
      done();
    },
  });
  try {
    const result = await runPass(
      {
        config,
        set: config.sets[0]!,
        journal,
        datastore: wrap(createMinioDatastore(config.datastore)),
        // The race is told at debug, per file.
        logger: createLogger({ stream, journald: false, level: "debug" }),
      },
      { scope },
    );
    return { result, log };
  } finally {
    journal.close();
  }
}

async function objectText(fed: Federation, key: string): Promise<string | null> {
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await fed.minio.client.getObject(fed.bucket, key)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  } catch {
    return null;
  }
}

async function deleteMarkers(fed: Federation, key: string): Promise<number> {
  let count = 0;
  const stream = fed.minio.client.listObjects(fed.bucket, key, false, { IncludeVersion: true });
  for await (const item of stream as AsyncIterable<{ name?: string; isDeleteMarker?: boolean }>) {
    if (item.name === key && item.isDeleteMarker) count++;
  }
  return count;
}

describe("A and B changing the same file at once", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  useFederation([2, [{ name: "web" }]], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  /** A deletes doc.txt; B's new version lands while A's pass is at `method` for it. */
  async function race(method: "stat" | "deleteIfCurrent", content: string) {
    writeTree(a.root(), { "doc.txt": "v1", "keep.txt": "k" });
    await fed.sync(a);
    await fed.sync(b);
    rmSync(a.path("doc.txt"));
    writeFileSync(b.path("doc.txt"), content);
    let wrote = false;
    const { result, log } = await passOn(a, (datastore) =>
      interpose(datastore, method, async (key) => {
        if (key !== "web/doc.txt" || wrote) return;
        wrote = true;
        assert.equal(passSummary((await fed.sync(b)).stderr).up, 1, "B published its version");
      }),
    );
    assert.ok(wrote, `the pass reached ${method}`);
    assert.equal(result.counts.deletedRemote, 0);
    assert.match(log, /changed remotely since the listing; not deleted, reconciling next pass path=doc\.txt/);
    assert.equal(await objectText(fed, "web/doc.txt"), content, "B's version survives in the bucket");
    assert.equal(await objectText(fed, ".fedsync/web/tombstones/doc.txt"), null, "no tombstone was written");
    const onB = await fed.sync(b);
    assert.equal(passSummary(onB.stderr).deletedHere, 0);
    assert.equal(readFileSync(b.path("doc.txt"), "utf8"), content);
    // On A, the deletion met a modification: the modification wins.
    await fed.sync(a);
    assert.equal(readFileSync(a.path("doc.txt"), "utf8"), content);
  }

  test("without versioning: a version written before A's check of the object survives", async () => {
    await race("stat", "v2 from b, before the check");
  });

  test("with versioning: a version written between A's check and A's deletion survives", async () => {
    await fed.minio.client.setBucketVersioning(fed.bucket, { Status: "Enabled" });
    await race("deleteIfCurrent", "v3 from b, after the check");
    assert.equal(await deleteMarkers(fed, "web/doc.txt"), 0, "A's deletion was taken back");

    // Without a race the deletion stands, with its tombstone.
    rmSync(a.path("keep.txt"));
    const { result } = await passOn(a, (datastore) => datastore);
    assert.equal(result.counts.deletedRemote, 1);
    assert.equal(await objectText(fed, "web/keep.txt"), null);
    assert.equal(await deleteMarkers(fed, "web/keep.txt"), 1);
    assert.notEqual(await objectText(fed, ".fedsync/web/tombstones/keep.txt"), null);
  });

  test("a file created on A while B's version of it downloads is not replaced: the next pass keeps both", async () => {
    writeFileSync(b.path("both.txt"), "from b\n");
    await fed.sync(b);
    // a plans a download (no file here yet); the file is created just before the bytes arrive.
    const { result, log } = await passOn(a, (datastore) =>
      interpose(datastore, "get", async (key) => {
        if (key === "web/both.txt") writeFileSync(a.path("both.txt"), "written on a meanwhile\n");
      }),
    );
    assert.equal(result.counts.downloaded, 0);
    assert.match(log, /both\.txt appeared since it was scanned/);
    assert.equal(readFileSync(a.path("both.txt"), "utf8"), "written on a meanwhile\n");
    const next = passSummary((await fed.sync(a)).stderr);
    assert.equal(next.conflicts, 1);
    const copies = readdirSync(a.root()).filter((name) => name.startsWith("both.fedsync-conflict-"));
    assert.equal(copies.length, 1);
    const versions = [readFileSync(a.path("both.txt"), "utf8"), readFileSync(a.path(copies[0]!), "utf8")];
    assert.deepEqual(versions.sort(), ["from b\n", "written on a meanwhile\n"]);
  });
});

/** Takes a deletion back as a healing cluster can: the newest delete marker goes, the older version is current. */
async function undoDeletion(fed: Federation, key: string): Promise<void> {
  const stream = fed.minio.client.listObjects(fed.bucket, key, false, { IncludeVersion: true });
  for await (const item of stream as AsyncIterable<{
    name?: string;
    isDeleteMarker?: boolean;
    isLatest?: boolean;
    versionId?: string;
  }>) {
    if (item.name === key && item.isDeleteMarker && item.isLatest) {
      await fed.minio.client.removeObject(fed.bucket, key, { versionId: item.versionId! });
      return;
    }
  }
  throw new Error(`no delete marker on ${key}`);
}

describe("a deletion the bucket takes back (a distributed MinIO healing after a node failure)", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let c: Agent;
  useFederation([3, [{ name: "web" }]], (started) => {
    fed = started;
    [a, b, c] = started.agents as [Agent, Agent, Agent];
  });

  test("the deleted version, back older than its deletion mark, is deleted again, not downloaded", async () => {
    await fed.minio.client.setBucketVersioning(fed.bucket, { Status: "Enabled" });
    // A set left empty would trip the guard against an emptied bucket.
    writeFileSync(a.path("stays.txt"), "stays\n");
    writeFileSync(a.path("gone.txt"), "deleted once\n");
    for (const agent of [a, b, c]) await fed.sync(agent);
    // The mark is written in a later second than the object (server times compare in whole seconds).
    await sleep(1100);
    rmSync(b.path("gone.txt"));
    assert.equal(passSummary((await fed.sync(b)).stderr).deletedRemotely, 1);
    await fed.sync(a);
    assert.equal(existsSync(a.path("gone.txt")), false);

    await undoDeletion(fed, "web/gone.txt");
    assert.equal(await objectText(fed, "web/gone.txt"), "deleted once\n");
    // c had not met the deletion: its file matches the object, and the mark says that version was deleted.
    const onC = await fed.sync(c, ["--full-listing"]);
    assert.equal(existsSync(c.path("gone.txt")), false);
    assert.match(onC.stderr, /web\/gone\.txt came back after its deletion .*; deleted again/);
    assert.equal(await objectText(fed, "web/gone.txt"), null);

    // a had applied the deletion: the version back in the bucket is not downloaded.
    await undoDeletion(fed, "web/gone.txt");
    const onA = await fed.sync(a, ["--full-listing"]);
    assert.equal(passSummary(onA.stderr).down, 0);
    assert.equal(existsSync(a.path("gone.txt")), false);
    assert.equal(await objectText(fed, "web/gone.txt"), null);

    // Nor by a pass of the key alone (a lightweight set's), which looks up the mark of a deletion it applied.
    await undoDeletion(fed, "web/gone.txt");
    const { result, log } = await passOn(a, (datastore) => datastore, { kind: "keys", keys: ["gone.txt"] });
    assert.equal(result.counts.downloaded, 0);
    assert.equal(existsSync(a.path("gone.txt")), false);
    assert.match(log, /came back after its deletion/);
    assert.equal(await objectText(fed, "web/gone.txt"), null);

    // Written again after the mark, the same content is a new file, not an undone deletion.
    await sleep(1100);
    writeFileSync(c.path("gone.txt"), "deleted once\n");
    await fed.sync(c);
    await fed.sync(a, ["--full-listing"]);
    assert.equal(readFileSync(a.path("gone.txt"), "utf8"), "deleted once\n");
  });

  test("a file deleted, written again and deleted again keeps its new deletion mark", async () => {
    writeFileSync(a.path("twice.txt"), "first\n");
    await fed.sync(a);
    rmSync(a.path("twice.txt"));
    await fed.sync(a);
    await sleep(1100);
    writeFileSync(a.path("twice.txt"), "second\n");
    await fed.sync(a);
    await fed.sync(b);
    assert.equal(readFileSync(b.path("twice.txt"), "utf8"), "second\n");
    // This pass finds the first mark superseded by the second version, and deletes that version.
    rmSync(a.path("twice.txt"));
    assert.equal(passSummary((await fed.sync(a, ["--full-listing"])).stderr).deletedRemotely, 1);
    assert.notEqual(await objectText(fed, ".fedsync/web/tombstones/twice.txt"), null);
    const onB = await fed.sync(b);
    assert.equal(passSummary(onB.stderr).deletedHere, 1);
    assert.doesNotMatch(onB.stderr, /without a deletion mark/);
    assert.equal(existsSync(b.path("twice.txt")), false);
  });
});
