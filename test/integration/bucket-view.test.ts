import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { startFederation, type Agent, type Federation } from "../helpers/federation.js";

interface SyncJson {
  sets: { set: string; ok: boolean; bucket: "listing" | "journal"; counts: Record<string, number> }[];
}

/** `fedsync sync --json` on the agent: how the pass saw the bucket and what it did. */
async function syncJson(fed: Federation, agent: Agent, ...args: string[]) {
  const result = await fed.sync(agent, ["--json", ...args]);
  const [set] = (JSON.parse(result.stdout) as SyncJson).sets;
  assert.equal(set!.ok, true, result.stderr);
  return set!;
}

describe("full passes that take the bucket from the journal", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  const LISTING_INTERVAL_MS = 8000;

  before(async () => {
    fed = await startFederation(2, [{ name: "web", full_listing_interval: `${LISTING_INTERVAL_MS}ms` }]);
    [a, b] = fed.agents as [Agent, Agent];
    writeFileSync(a.path("index.html"), "<h1>one</h1>\n");
    writeFileSync(a.path("about.html"), "<p>about</p>\n");
    assert.equal((await syncJson(fed, a)).bucket, "listing", "an empty journal lists");
    assert.equal((await syncJson(fed, b)).bucket, "listing");
    assert.equal(readFileSync(b.path("index.html"), "utf8"), "<h1>one</h1>\n");
  });
  after(async () => {
    await fed?.close();
  });

  test("no other writer since the last listing: not listed, and a local edit and deletion still go out", async () => {
    const quiet = await syncJson(fed, b);
    assert.equal(quiet.bucket, "journal");
    assert.equal(quiet.counts.downloaded, 0);
    writeFileSync(b.path("index.html"), "<h1>two</h1>\n");
    rmSync(b.path("about.html"));
    const out = await syncJson(fed, b);
    assert.equal(out.bucket, "journal", "this machine's own records do not call for a listing");
    assert.equal(out.counts.uploaded, 1);
    assert.equal(out.counts.deletedRemote, 1);
    const inbound = await syncJson(fed, a);
    assert.equal(inbound.bucket, "listing", "another machine's record calls for a listing");
    assert.equal(readFileSync(a.path("index.html"), "utf8"), "<h1>two</h1>\n");
    assert.equal(existsSync(a.path("about.html")), false);
  });

  test("an object put by another S3 client is seen at the next listing: --full-listing or the interval", async () => {
    assert.equal((await syncJson(fed, b, "--full-listing")).bucket, "listing");
    await fed.minio.client.putObject(fed.bucket, "web/foreign.txt", Buffer.from("put by hand\n"));
    const missed = await syncJson(fed, b);
    assert.equal(missed.bucket, "journal");
    assert.equal(existsSync(b.path("foreign.txt")), false, "no record, no listing: not seen yet");
    const forced = await syncJson(fed, b, "--full-listing");
    assert.equal(forced.bucket, "listing");
    assert.equal(readFileSync(b.path("foreign.txt"), "utf8"), "put by hand\n");

    await fed.minio.client.putObject(fed.bucket, "web/later.txt", Buffer.from("later\n"));
    await new Promise((resolve) => setTimeout(resolve, LISTING_INTERVAL_MS + 500));
    const due = await syncJson(fed, b);
    assert.equal(due.bucket, "listing", "full_listing_interval has passed");
    assert.equal(readFileSync(b.path("later.txt"), "utf8"), "later\n");
  });

  test("an object changed without a record does not get overwritten by a local edit: the same pass keeps both", async () => {
    await syncJson(fed, a, "--full-listing");
    await fed.minio.client.putObject(fed.bucket, "web/index.html", Buffer.from("<h1>by hand</h1>\n"));
    writeFileSync(a.path("index.html"), "<h1>three</h1>\n");
    const edit = await syncJson(fed, a);
    assert.equal(edit.bucket, "journal");
    // The upload's If-Match on the recorded ETag failed: the key was looked up and planned again at once.
    assert.equal(edit.counts.conflicts, 1);
    const next = await syncJson(fed, a, "--full-listing");
    assert.equal(next.counts.conflicts, 0);
    const copies = (await fed.run(a, ["conflicts", "--json"])).stdout;
    assert.match(copies, /index\.fedsync-conflict-/);
    const here = readFileSync(a.path("index.html"), "utf8");
    assert.ok(["<h1>three</h1>\n", "<h1>by hand</h1>\n"].includes(here), here);
  });
});
