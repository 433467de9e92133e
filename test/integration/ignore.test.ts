import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import {
  snapshot,
  startFederation,
  useFederation,
  writeTree,
  type Agent,
  type Federation,
  type SetSpec,
} from "../helpers/federation.js";
import { AgentProcess, waitUntil } from "../helpers/agent-process.js";

/** The entry keys the bucket holds under a set's prefix. */
async function bucketKeys(fed: Federation, set: string): Promise<string[]> {
  const keys: string[] = [];
  const stream = fed.minio.client.listObjectsV2(fed.bucket, `${set}/`, true);
  for await (const item of stream as AsyncIterable<{ name?: string }>) {
    if (item.name) keys.push(item.name.slice(set.length + 1));
  }
  return keys.sort();
}

/** The contents of the files under `root` whose relative path starts with `start`, sorted. */
function contentsOf(agent: Agent, set: string, start: string): string[] {
  return [...snapshot(agent.root(set))]
    .filter(([path, entry]) => path.startsWith(start) && entry.type === "file")
    .map(([path]) => readFileSync(agent.path(path, set), "utf8"))
    .sort();
}

function read(agent: Agent, rel: string, set: string): string {
  return readFileSync(agent.path(rel, set), "utf8");
}

const WEB: SetSpec = { name: "web" };
const CONF: SetSpec = { name: "conf", ignore_file: ".fedsyncignore" };

describe("ignore rules between two machines", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  const syncBoth = async (rounds = 2) => {
    for (let round = 0; round < rounds; round++) {
      await fed.sync(b);
      await fed.sync(a);
    }
  };

  useFederation([2, [WEB, CONF]], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  test("a synced path that one machine starts ignoring is deleted nowhere, and its changes stay where they are made", async () => {
    writeTree(a.root("web"), {
      "index.html": "home",
      "logs/app.log": "log v1",
      "logs/b-edit.log": "edit v1",
      "data/x.bin": "bin v1",
    });
    await fed.sync(a);
    await fed.sync(b);
    assert.equal(read(b, "logs/app.log", "web"), "log v1");

    b.writeConfig([{ ...WEB, ignore: ["logs/", "*.bin"] }, CONF]);
    const first = await fed.sync(b);
    assert.match(first.stderr, /\[web\] 4 ignored path\(s\) left out of the sync/);
    await syncBoth();
    const everything = ["data/", "data/x.bin", "index.html", "logs/", "logs/app.log", "logs/b-edit.log"];
    assert.deepEqual(await bucketKeys(fed, "web"), everything);
    assert.deepEqual(
      Object.fromEntries(snapshot(b.root("web"))),
      Object.fromEntries(snapshot(a.root("web"))),
    );

    rmSync(b.path("logs/app.log", "web"));
    writeFileSync(b.path("logs/b-edit.log", "web"), "edit on b");
    writeFileSync(a.path("data/x.bin", "web"), "bin v2 from a");
    writeFileSync(b.path("index.html", "web"), "home from b");
    await syncBoth();
    assert.deepEqual(await bucketKeys(fed, "web"), everything);
    assert.equal(read(a, "logs/app.log", "web"), "log v1", "a deletion of an ignored file did not spread");
    assert.equal(read(a, "logs/b-edit.log", "web"), "edit v1", "an edit of an ignored file was not uploaded");
    assert.equal(
      read(b, "data/x.bin", "web"),
      "bin v1",
      "a remote edit of an ignored file was not downloaded",
    );
    assert.equal(read(a, "data/x.bin", "web"), "bin v2 from a");
    assert.equal(read(a, "index.html", "web"), "home from b", "the rest still syncs");
  });

  test("when the rule goes, the paths it covered are compared afresh: nothing is deleted, every version is kept", async () => {
    b.writeConfig([WEB, CONF]);
    await syncBoth();
    assert.deepEqual(
      Object.fromEntries(snapshot(b.root("web"))),
      Object.fromEntries(snapshot(a.root("web"))),
    );
    assert.equal(read(b, "logs/app.log", "web"), "log v1", "the file deleted while ignored came back");
    assert.deepEqual(contentsOf(b, "web", "logs/b-edit"), ["edit on b", "edit v1"]);
    assert.deepEqual(contentsOf(b, "web", "data/x"), ["bin v1", "bin v2 from a"]);
  });

  test("the ignore file syncs like any file, and its rules apply on every machine from the next pass", async () => {
    writeTree(a.root("conf"), {
      ".fedsyncignore": "# scratch files\n*.tmp\n!keep.tmp\n[broken\n",
      "x.tmp": "scratch",
      "keep.tmp": "kept",
      "page.html": "page",
    });
    const first = await fed.sync(a);
    assert.match(
      first.stderr,
      /\.fedsyncignore line 4 skipped: "\[broken" has a "\[" without a closing "\]"/,
      "a line that can never match is named",
    );
    assert.deepEqual(await bucketKeys(fed, "conf"), [".fedsyncignore", "keep.tmp", "page.html"]);

    await fed.sync(b);
    assert.equal(read(b, ".fedsyncignore", "conf"), "# scratch files\n*.tmp\n!keep.tmp\n[broken\n");
    writeTree(b.root("conf"), { "y.tmp": "b's scratch", "notes.txt": "notes" });
    await syncBoth();
    assert.deepEqual(await bucketKeys(fed, "conf"), [".fedsyncignore", "keep.tmp", "notes.txt", "page.html"]);
    assert.equal(existsSync(a.path("y.tmp", "conf")), false);
    assert.equal(read(a, "x.tmp", "conf"), "scratch");
  });

  test("an ignore file that is a symlink stops the set's pass, and nothing is synced by other rules", async () => {
    rmSync(b.path(".fedsyncignore", "conf"));
    writeFileSync(b.path("elsewhere", "web"), "");
    symlinkSync(b.path("elsewhere", "web"), b.path(".fedsyncignore", "conf"));
    writeTree(b.root("conf"), { "new.txt": "new", "z.tmp": "scratch" });
    const stopped = await fed.sync(b, ["--set", "conf"], 1);
    assert.match(
      stopped.stderr,
      /ignore file .*\.fedsyncignore is a symlink \(not followed\); nothing synced/,
    );
    assert.deepEqual(await bucketKeys(fed, "conf"), [".fedsyncignore", "keep.tmp", "notes.txt", "page.html"]);

    rmSync(b.path(".fedsyncignore", "conf"));
    writeFileSync(b.path(".fedsyncignore", "conf"), read(a, ".fedsyncignore", "conf"));
    await fed.sync(b, ["--set", "conf"]);
    assert.deepEqual(await bucketKeys(fed, "conf"), [
      ".fedsyncignore",
      "keep.tmp",
      "new.txt",
      "notes.txt",
      "page.html",
    ]);
  });
});

describe("a lightweight agent and its ignore file", () => {
  let fed: Federation;
  let agent: AgentProcess;

  before(async () => {
    fed = await startFederation(1, [{ name: "live", method: "lightweight", ignore_file: ".fedsyncignore" }]);
  });
  after(async () => {
    await agent?.stop();
    await fed.close();
  });

  test("an edit of the ignore file brings a full pass, which syncs what the rules no longer ignore", async () => {
    const [a] = fed.agents as [Agent];
    writeTree(a.root("live"), { ".fedsyncignore": "*.tmp\n", "z.tmp": "was ignored", "app.conf": "x" });
    agent = new AgentProcess(fed.spawnAgent(a));
    await agent.waitForLog(/ready/);
    await waitUntil(
      () => agent.output.includes("[live] pass complete"),
      20_000,
      "the first pass",
      () => agent.output,
    );
    assert.deepEqual(await bucketKeys(fed, "live"), [".fedsyncignore", "app.conf"]);

    writeFileSync(a.path(".fedsyncignore", "live"), "*.bak\n");
    const keys = async () => (await bucketKeys(fed, "live")).join(",");
    const deadline = Date.now() + 15_000;
    while ((await keys()) !== ".fedsyncignore,app.conf,z.tmp") {
      if (Date.now() > deadline) assert.fail(`z.tmp was not uploaded: ${await keys()}\n${agent.output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
});
