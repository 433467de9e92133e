import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { useFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";
import { AgentProcess } from "../helpers/agent-process.js";

interface StatusJson {
  agentPid: number | null;
  sets: {
    name: string;
    state: string | null;
    files: number;
    directories: number;
    lastPass: string | null;
    machines: { machine: string; offline: boolean; files: number; directories: number }[];
  }[];
  federationError: string | null;
}

describe("fedsync status and forget-machine", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;

  useFederation([2, [{ name: "web" }]], (started) => {
    fed = started;
    [a, b] = started.agents as [Agent, Agent];
  });

  test("a fresh machine with a valid config says never synced and exits 0, creating nothing", async () => {
    const result = await fed.run(a, ["status"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      `machine machine-a: agent not running\nweb (heavyweight, ${a.root()}): never synced\n`,
    );
    assert.ok(!existsSync(a.stateDir));
  });

  test("files and directories are counted apart, in the singular when there is one", async () => {
    writeTree(a.root(), { "index.html": "home", "css/site.css": "body {}" });
    await fed.sync(a);
    await fed.sync(b);
    // By hand (or from cron) a sync that changed nothing still says so, in its one summary line.
    const quiet = await fed.sync(a);
    assert.match(quiet.stderr, /^\S+ info \[web\] pass complete: 0 up, 0 down, .*\n$/);
    assert.equal(quiet.stderr.split("\n").length, 2, quiet.stderr);
    const result = await fed.run(a, ["status"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assert.equal(lines[0], "machine machine-a: agent not running");
    assert.match(
      lines[1]!,
      new RegExp(
        `^web \\(heavyweight, ${a.root()}\\): 2 files, 1 directory; last pass \\d+[smh] ago in \\d+\\.\\d s; 0 pending; 0 conflicts$`,
      ),
    );
    assert.match(
      lines[2]!,
      /^ {2}machine-a: last good pass \d+[smh] ago; 2 files, 1 directory; v\d+\.\d+\.\d+$/,
    );
    assert.match(
      lines[3]!,
      /^ {2}machine-b: last good pass \d+[smh] ago; 2 files, 1 directory; v\d+\.\d+\.\d+$/,
    );
    assert.equal(lines.length, 4);
    assert.equal(result.stdout.match(/agent not running/g)?.length, 1, "said once");

    const json = JSON.parse((await fed.run(a, ["status", "--json"])).stdout) as StatusJson;
    assert.deepEqual(
      [json.agentPid, json.sets[0]!.state, json.sets[0]!.files, json.sets[0]!.directories],
      [null, null, 2, 1],
    );
  });

  test("with the agent running, each set shows its state and the header its pid", async () => {
    const agent = new AgentProcess(fed.spawnAgent(a));
    try {
      await agent.waitForLog(/ ready: /);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const result = await fed.run(a, ["status"]);
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stdout.split("\n");
      assert.equal(lines[0], `machine machine-a: agent running (pid ${agent.child.pid})`);
      assert.match(lines[1]!, /^web \(heavyweight, .*\): idle; 2 files, 1 directory; /);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  test("forget-machine refuses this machine, an unknown one and one seen within offline_after", async () => {
    const self = await fed.run(a, ["forget-machine", "machine-a"]);
    assert.equal(self.code, 2);
    assert.match(
      self.stderr,
      /^fedsync: machine-a is this machine \(machine: in .*\); it cannot forget itself$/m,
    );
    const unknown = await fed.run(a, ["forget-machine", "machine-z"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no machine named machine-z in the federation/);
    const online = await fed.run(a, ["forget-machine", "machine-b"]);
    assert.equal(online.code, 1);
    assert.match(
      online.stderr,
      /^fedsync: machine-b was last seen \d+[smh] ago, within offline_after \(1h\): it may still be running; stop its agent/m,
    );
    const heartbeats = (await fed.run(a, ["status", "--json"])).stdout;
    assert.deepEqual(
      (JSON.parse(heartbeats) as StatusJson).sets[0]!.machines.map((m) => m.machine),
      ["machine-a", "machine-b"],
    );
  });

  test("a machine offline past offline_after is marked, then forgotten", async () => {
    a.writeConfig(undefined, { offline_after: "1s" });
    try {
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const before = await fed.run(a, ["status"]);
      assert.match(
        before.stdout,
        /^ {2}machine-b: last good pass \d+[smh] ago \(offline\); 2 files, 1 directory; /m,
      );
      const forgot = await fed.run(a, ["forget-machine", "machine-b"]);
      assert.equal(forgot.code, 0, forgot.stderr);
      assert.match(
        forgot.stdout,
        /^forgot machine-b \(last seen \d+[smh] ago\): removed its heartbeat from 1 set \(web\)\n$/,
      );
      const stat = await fed.minio.client
        .statObject(fed.bucket, ".fedsync/web/machines/machine-b")
        .catch(() => null);
      assert.equal(stat, null, "the heartbeat object is gone");
      const after = JSON.parse((await fed.run(a, ["status", "--json"])).stdout) as StatusJson;
      assert.deepEqual(
        after.sets[0]!.machines.map((m) => m.machine),
        ["machine-a"],
      );
    } finally {
      a.writeConfig();
    }
  });
});
