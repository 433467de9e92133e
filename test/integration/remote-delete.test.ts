import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { Writable } from "node:stream";
import { loadConfig } from "../../src/config/index.js";
import { createMinioDatastore } from "../../src/datastore/index.js";
import type { Datastore } from "../../src/datastore/types.js";
import { Journal } from "../../src/journal/journal.js";
import { createLogger } from "../../src/log/index.js";
import { runPass, type PassResult } from "../../src/reconcile/pass.js";
import { useFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";
import { passSummary } from "../helpers/checks.js";

/** The datastore with `before(key)` run ahead of each call of `method` (another machine acting in between). */
function interpose(
  datastore: Datastore,
  method: "stat" | "deleteIfCurrent",
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
    const result = await runPass({
      config,
      set: config.sets[0]!,
      journal,
      datastore: wrap(createMinioDatastore(config.datastore)),
      // The race is told at debug, per file.
      logger: createLogger({ stream, journald: false, level: "debug" }),
    });
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

describe("a deletion on A while B writes the same file", () => {
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
});
