import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startFederation, type Agent, type Federation } from "../helpers/federation.js";

interface VersionJson {
  id: string | null;
  source: "bucket" | "trash";
  deleted: boolean;
  time: string;
  origin: string | null;
  size: number;
  sha256: string | null;
  current: boolean;
}

interface LogJson {
  at: string;
  set: string;
  path: string;
  action: string;
  origin: string;
  sha256: string | null;
  size: number | null;
  trash: string | null;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

async function syncAll(fed: Federation, agents: Agent[] = fed.agents) {
  for (const agent of agents) await fed.sync(agent);
}

async function cli(fed: Federation, agent: Agent, args: string[], expectCode = 0) {
  const result = await fed.run(agent, args);
  assert.equal(result.code, expectCode, `fedsync ${args.join(" ")}:\n${result.stderr}${result.stdout}`);
  return result;
}

async function versionsOf(fed: Federation, agent: Agent, path: string): Promise<VersionJson[]> {
  const { stdout } = await cli(fed, agent, ["history", path, "--json"]);
  return (JSON.parse(stdout) as { versions: VersionJson[] }).versions;
}

async function logOf(fed: Federation, agent: Agent, args: string[] = []): Promise<LogJson[]> {
  const { stdout } = await cli(fed, agent, ["log", "--json", "--limit", "0", ...args]);
  return JSON.parse(stdout) as LogJson[];
}

function agentsOf(fed: Federation): [Agent, Agent, Agent] {
  return fed.agents as [Agent, Agent, Agent];
}

describe("history and restore with bucket versioning on", () => {
  let fed: Federation;
  before(async () => {
    fed = await startFederation(3);
    await fed.minio.client.setBucketVersioning(fed.bucket, { Status: "Enabled" });
  });
  after(async () => {
    await fed.close();
  });

  test("a file edited three times on different agents shows three versions with the right origins", async () => {
    const [a, b, c] = agentsOf(fed);
    writeFileSync(a.path("page.txt"), "one, from a");
    await fed.sync(a);
    await fed.sync(b);
    writeFileSync(b.path("page.txt"), "two, from b");
    await fed.sync(b);
    await fed.sync(c);
    writeFileSync(c.path("page.txt"), "three, from c");
    await fed.sync(c);

    const versions = await versionsOf(fed, a, "web:page.txt");
    assert.deepEqual(
      versions.map((v) => [v.source, v.origin, v.sha256, v.current]),
      [
        ["bucket", "machine-c", sha256("three, from c"), true],
        ["bucket", "machine-b", sha256("two, from b"), false],
        ["bucket", "machine-a", sha256("one, from a"), false],
      ],
    );
    const text = (await cli(fed, b, ["history", b.path("page.txt")])).stdout;
    assert.match(text, /bucket versioning is on/);
    assert.match(text, /machine-b/);
  });

  test("restore of the second version in place reaches all agents", async () => {
    const [a, b, c] = agentsOf(fed);
    await syncAll(fed);
    const second = (await versionsOf(fed, a, "web:page.txt"))[1]!;
    const restore = await cli(fed, a, ["restore", "web:page.txt", "--version-id", second.id!]);
    assert.match(restore.stdout, /restored web:page\.txt/);
    assert.equal(readFileSync(a.path("page.txt"), "utf8"), "two, from b");
    await syncAll(fed);
    for (const agent of [a, b, c]) assert.equal(readFileSync(agent.path("page.txt"), "utf8"), "two, from b");

    const versions = await versionsOf(fed, c, "web:page.txt");
    assert.equal(versions.length, 4);
    assert.deepEqual([versions[0]!.origin, versions[0]!.sha256], ["machine-a", sha256("two, from b")]);

    const first = join(fed.dir, "first.txt");
    await cli(fed, c, ["restore", c.path("page.txt"), "--at", versions[3]!.time, "--to", first]);
    assert.equal(readFileSync(first, "utf8"), "one, from a");
  });

  test("fedsync log shows every applied change, and --since filters by time", async () => {
    const [a, b] = agentsOf(fed);
    const all = await logOf(fed, b, ["--since", "1h"]);
    assert.deepEqual(
      all.filter((row) => row.path === "page.txt").map((row) => [row.action, row.origin]),
      [
        ["download", "machine-a"],
        ["download", "machine-c"],
        ["upload", "machine-b"],
        ["download", "machine-a"],
      ],
    );
    const upload = all.find((row) => row.action === "upload")!;
    assert.equal(upload.sha256, sha256("two, from b"));
    assert.equal(upload.size, "two, from b".length);

    await sleep(20);
    const mark = new Date().toISOString();
    writeFileSync(b.path("late.txt"), "after the mark");
    await fed.sync(b);
    await fed.sync(a);
    assert.deepEqual(
      (await logOf(fed, b, ["--since", mark])).map((row) => [row.action, row.path]),
      [["upload", "late.txt"]],
    );
    assert.deepEqual(
      (await logOf(fed, a, ["--since", mark, "--machine", "machine-b", "--path", "*.txt"])).map((row) => [
        row.action,
        row.path,
        row.origin,
      ]),
      [["download", "late.txt", "machine-b"]],
    );
    assert.deepEqual(await logOf(fed, a, ["--since", mark, "--machine", "machine-c"]), []);
    const text = (await cli(fed, a, ["log", "--path", "late.txt"])).stdout;
    assert.match(text, /download\s+late\.txt\s+origin=machine-b/);
    const hash = sha256("after the mark");
    assert.match(text, new RegExp(` sha256=${hash.slice(0, 12)}\n`), "text shows 12 hex digits");
    assert.equal((await logOf(fed, a, ["--path", "late.txt"]))[0]!.sha256, hash, "--json the whole hash");
    await cli(fed, a, ["log", "--since", "yesterday-ish"], 2);
  });

  test("restore and history refuse a path outside the set root", async () => {
    const [a] = agentsOf(fed);
    const outside = join(fed.dir, "outside.txt");
    writeFileSync(outside, "not synced");
    for (const path of [outside, a.path("../outside.txt"), "web:../outside.txt", "/etc/passwd"]) {
      const restore = await cli(fed, a, ["restore", path], 2);
      assert.match(restore.stderr, /not inside any set root|not a path fedsync syncs/);
    }
    await cli(fed, a, ["history", outside], 2);
    await cli(fed, a, ["restore", "web:page.txt", "--version-id", "no-such-version"], 1);
    assert.equal(readFileSync(outside, "utf8"), "not synced");
  });
});

describe("trash (keep_deleted) with bucket versioning off", () => {
  let fed: Federation;
  before(async () => {
    fed = await startFederation(3, [{ name: "web", keep_deleted: true }]);
  });
  after(async () => {
    await fed.close();
  });

  test("a file deleted on A and restored from B's trash comes back everywhere", async () => {
    const [a, b, c] = agentsOf(fed);
    writeFileSync(a.path("notes.txt"), "precious");
    writeFileSync(a.path("other.txt"), "keeps the set from being emptied");
    await syncAll(fed);
    rmSync(a.path("notes.txt"));
    await syncAll(fed);
    for (const agent of [a, b, c]) assert.equal(existsSync(agent.path("notes.txt")), false);

    const versions = await versionsOf(fed, b, "web:notes.txt");
    const trashed = versions.find((v) => v.source === "trash");
    assert.ok(trashed, `no trash version in ${JSON.stringify(versions)}`);
    assert.deepEqual([trashed.origin, trashed.sha256], ["machine-a", sha256("precious")]);
    assert.ok(versions.some((v) => v.deleted && v.origin === "machine-a"));
    assert.ok(!versions.some((v) => v.source === "bucket" && !v.deleted), "the bucket keeps no old versions");

    const copy = join(fed.dir, "notes-copy.txt");
    await cli(fed, b, ["restore", "web:notes.txt", "--version-id", trashed.id!, "--to", copy]);
    assert.equal(readFileSync(copy, "utf8"), "precious");
    await cli(fed, b, ["restore", "web:notes.txt", "--version-id", trashed.id!, "--to", copy], 1);

    const restore = await cli(fed, b, ["restore", b.path("notes.txt")]);
    assert.match(restore.stdout, /removed the deletion mark/);
    await syncAll(fed, [b, a, c]);
    for (const agent of [a, b, c]) assert.equal(readFileSync(agent.path("notes.txt"), "utf8"), "precious");

    const deletion = (await logOf(fed, c, ["--path", "notes.txt"])).find(
      (row) => row.action === "delete-local",
    );
    assert.ok(deletion?.trash && existsSync(deletion.trash), "the deleted version was kept in the trash");
  });

  test("history pruning keeps the newest rows", async () => {
    const [, , c] = agentsOf(fed);
    assert.ok((await logOf(fed, c)).length >= 3);
    c.writeConfig(undefined, { history_retention: "2s" });
    await sleep(2100);
    writeFileSync(c.path("fresh.txt"), "new");
    await fed.sync(c);
    assert.deepEqual(
      (await logOf(fed, c)).map((row) => [row.action, row.path]),
      [["upload", "fresh.txt"]],
    );
  });
});
