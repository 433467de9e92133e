import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  objectExists,
  snapshot,
  startFederation,
  useFederation,
  writeTree,
  type Agent,
  type Federation,
} from "../helpers/federation.js";
import { AgentProcess } from "../helpers/agent-process.js";
import { passSummary } from "../helpers/checks.js";

async function objectKeys(fed: Federation, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const item of fed.minio.client.listObjectsV2(fed.bucket, prefix, true)) {
    if (item.name) keys.push(item.name);
  }
  return keys.sort();
}

function linesMatching(text: string, pattern: RegExp): string[] {
  return text.split("\n").filter((line) => pattern.test(line));
}

/** Waits until the line of one set in `fedsync status` matches (the agent publishes its state twice a second). */
async function statusMatches(fed: Federation, agent: Agent, set: string, pattern: RegExp): Promise<void> {
  let line = "";
  const deadline = Date.now() + 10_000;
  while (!pattern.test(line)) {
    if (Date.now() > deadline) assert.fail(`fedsync status never matched ${pattern}; last:\n${line}`);
    const result = await fed.run(agent, ["status"]);
    line = result.stdout.split("\n").find((text) => text.startsWith(`${set} (`)) ?? result.stdout;
  }
}

describe("a set root that became another directory", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  useFederation([2, [{ name: "web" }]], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  test("a root replaced by an empty directory deletes nothing, whatever the set's size, until --accept-new-root", async () => {
    writeTree(a.root(), { "index.html": "home", "css/site.css": "body{}", "notes.txt": "n" });
    await fed.sync(a);
    await fed.sync(b);
    const peer = snapshot(b.root());
    const objects = await objectKeys(fed, "web/");
    const old = statSync(a.root());
    renameSync(a.root(), `${a.root()}.old`);
    mkdirSync(a.root());
    const now = statSync(a.root());

    const tripped = await fed.sync(a, [], 1);
    const lines = linesMatching(tripped.stderr, /is not the directory synced before/);
    assert.equal(lines.length, 1, tripped.stderr);
    assert.match(
      lines[0]!,
      new RegExp(
        `set root ${a.root()} is not the directory synced before \\(was device \\d+:\\d+ inode ${old.ino} at the last full pass, ` +
          `is device \\d+:\\d+ inode ${now.ino} now: unmounted, replaced or moved\\?\\); nothing synced or deleted ` +
          `\\(if it is the directory to sync now: run \`fedsync sync --set web --accept-new-root\`, ` +
          `or \`touch ${join(a.stateDir, "accept-new-root.web")}\` while the agent runs\\)`,
      ),
    );
    writeTree(a.root(), { "fresh.html": "new site" });
    await fed.sync(a, [], 1);
    await fed.sync(b);
    assert.deepEqual(snapshot(b.root()), peer, "nothing deleted on the peer");
    assert.deepEqual(await objectKeys(fed, "web/"), objects, "nothing deleted in the bucket");

    // Accepted, the new directory is the set, with the usual semantics: three files are below the deletion
    // guard's floor, so their deletion spreads.
    const accepted = await fed.sync(a, ["--accept-new-root"]);
    assert.match(accepted.stderr, /set root .* accepted as a new directory \(was device .* is device .*\)/);
    assert.equal(passSummary(accepted.stderr).deletedRemotely, 4);
    assert.deepEqual(await objectKeys(fed, "web/"), ["web/fresh.html"]);
    await fed.sync(b);
    assert.deepEqual(readdirSync(b.root()), ["fresh.html"]);
    await fed.sync(a);
    rmSync(`${a.root()}.old`, { recursive: true });
  });

  test("the running agent takes the flag file in the state dir as the acceptance", async () => {
    writeTree(a.root(), { "page.html": "v1", "img/logo.svg": "<svg/>" });
    await fed.sync(a);
    a.writeConfig([{ name: "web", interval: "1s" }]);
    const agent = new AgentProcess(fed.spawnAgent(a));
    try {
      // The start-up pass changed nothing, so it logs no line at info: its end shows in the status.
      await statusMatches(fed, a, "web", /\): idle;/);
      // Restored from a backup into a new directory: the same files, another inode.
      cpSync(a.root(), `${a.root()}.restored`, { recursive: true, preserveTimestamps: true });
      renameSync(a.root(), `${a.root()}.before`);
      renameSync(`${a.root()}.restored`, a.root());
      await agent.waitForLog(/is not the directory synced before/);
      await statusMatches(fed, a, "web", /: stopped: set root .* is not the directory synced before/);
      const flag = join(a.stateDir, "accept-new-root.web");
      writeFileSync(flag, "");
      await agent.waitForLog(/found .*accept-new-root\.web: accepting the set root/);
      // The pass after the acceptance changes nothing (the same files), so it shows in the status only.
      await statusMatches(fed, a, "web", /: idle;/);
      assert.equal(existsSync(flag), false, "the flag is taken");
      assert.deepEqual(await objectKeys(fed, "web/"), [
        "web/fresh.html",
        "web/img/",
        "web/img/logo.svg",
        "web/page.html",
      ]);
    } finally {
      assert.equal(await agent.stop(), 0);
      a.writeConfig([{ name: "web" }]);
    }
    await fed.sync(a);
    rmSync(`${a.root()}.before`, { recursive: true });
  });

  test("an unmounted sub-mount: nothing under it deleted or downloaded on any machine, one warning", async () => {
    writeTree(a.root(), { "top.txt": "t" });
    const mountPoint = a.path("data");
    mkdirSync(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "fedsync-test", mountPoint]);
    let mounted = true;
    try {
      writeTree(a.root(), { "data/one.txt": "1", "data/sub/two.txt": "2" });
      await fed.sync(a);
      await fed.sync(b);
      assert.equal(readFileSync(b.path("data/sub/two.txt"), "utf8"), "2");
      execFileSync("umount", [mountPoint]);
      mounted = false;

      const pass = await fed.sync(a);
      const warnings = linesMatching(pass.stderr, /data\/: mount point not mounted/);
      assert.equal(warnings.length, 1, pass.stderr);
      assert.match(
        warnings[0]!,
        /nothing under it synced or deleted \(mount it again, or if it is gone for good: run `fedsync sync --set web --accept-new-root`/,
      );
      assert.equal(passSummary(pass.stderr).deletedRemotely, 0);
      assert.deepEqual(await objectKeys(fed, "web/data/"), [
        "web/data/",
        "web/data/one.txt",
        "web/data/sub/",
        "web/data/sub/two.txt",
      ]);

      writeFileSync(b.path("data/one.txt"), "changed on b");
      writeTree(b.root(), { "data/new.txt": "new" });
      await fed.sync(b);
      const again = await fed.sync(a);
      assert.equal(passSummary(again.stderr).down, 0, again.stderr);
      assert.deepEqual(readdirSync(mountPoint), [], "nothing downloaded into the unmounted mount point");
      await fed.sync(b);
      assert.deepEqual(readdirSync(b.path("data")).sort(), ["new.txt", "one.txt", "sub"]);

      // Gone for good: accepted, the empty directory is what this machine has there now; what B changed
      // meanwhile beats the deletion and comes back, the rest is deleted everywhere.
      await fed.sync(a, ["--accept-new-root"]);
      await fed.sync(b);
      assert.deepEqual(readdirSync(b.path("data")).sort(), ["new.txt", "one.txt"]);
      assert.deepEqual(readdirSync(mountPoint).sort(), ["new.txt", "one.txt"]);
      assert.equal(readFileSync(join(mountPoint, "one.txt"), "utf8"), "changed on b");
    } finally {
      if (mounted) execFileSync("umount", [mountPoint]);
    }
  });
});

describe("a missing set root", () => {
  let fed: Federation;
  let a: Agent;
  before(async () => {
    fed = await startFederation(1, [{ name: "conf", method: "lightweight", debounce: "50ms" }]);
    [a] = fed.agents as [Agent];
  });
  after(async () => {
    await fed?.close();
  });

  test("sync names the config key and creates nothing, unless the set says create: true", async () => {
    rmSync(a.root(), { recursive: true });
    const failed = await fed.sync(a, [], 1);
    assert.match(
      failed.stderr,
      /sets\[0\]\.path: set root .*\/conf does not exist; nothing synced \(create the directory, or set `create: true` on the set\)/,
    );
    assert.equal(existsSync(a.root()), false);
    a.writeConfig([{ name: "conf", method: "lightweight", create: true }]);
    rmSync(a.root(), { recursive: true });
    await fed.sync(a);
    assert.equal(statSync(a.root()).isDirectory(), true);
    a.writeConfig([{ name: "conf", method: "lightweight", debounce: "50ms" }]);
  });

  test("the agent reports the set as failing, then watches the root once it appears", async () => {
    rmSync(a.root(), { recursive: true });
    const agent = new AgentProcess(fed.spawnAgent(a));
    try {
      await agent.waitForLog(/sets\[0\]\.path: set root .* does not exist/);
      await statusMatches(fed, a, "conf", /: failing: sets\[0\]\.path: set root .* does not exist/);
      // The change-log poll and the timers go on: the error is not repeated while the root stays missing.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      assert.equal(linesMatching(agent.output, /does not exist/).length, 1, agent.output);

      mkdirSync(a.root());
      writeFileSync(a.path("early.conf", "conf"), "1");
      await waitFor(fed, "conf/early.conf", 20_000);
      // Now a file event alone carries a change: the watch was set on the new root.
      const started = Date.now();
      writeFileSync(a.path("late.conf", "conf"), "2");
      await waitFor(fed, "conf/late.conf", 4000);
      assert.ok(Date.now() - started < 4000);
      await statusMatches(fed, a, "conf", /: idle;/);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});

async function waitFor(fed: Federation, key: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await objectExists(fed, key))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${key}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
