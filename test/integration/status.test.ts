import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { useFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";
import { AgentProcess, fileHas, waitUntil } from "../helpers/agent-process.js";

interface StatusJson {
  agentPid: number | null;
  sets: {
    name: string;
    state: string | null;
    notifications?: string;
    files: number;
    directories: number;
    lastPass: string | null;
    newestChange: string | null;
    machines: {
      machine: string;
      thisMachine: boolean;
      lastGoodPass: string;
      offline: boolean;
      appliedThrough: string | null;
      lagSeconds: number | null;
      files: number;
      directories: number;
    }[];
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
    assert.match(lines[2]!, /^ {2}2 machines, 0 offline, 0 behind; newest change \d+s ago$/);
    assert.match(
      lines[3]!,
      /^ {2}machine-a \(this machine\): last good pass \d+[smh] ago; up to date; 2 files, 1 directory; v\d+\.\d+\.\d+$/,
    );
    assert.match(
      lines[4]!,
      /^ {2}machine-b: last good pass \d+[smh] ago; up to date; 2 files, 1 directory; v\d+\.\d+\.\d+$/,
    );
    assert.equal(lines.length, 5);
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
        /^ {2}machine-b: last good pass \d+[smh] ago \(offline\); up to date; 2 files, 1 directory; /m,
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

describe("fedsync status: the fleet view", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let c: Agent;

  useFederation([3, [{ name: "web" }]], (started) => {
    fed = started;
    [a, b, c] = started.agents as [Agent, Agent, Agent];
  });

  async function statusJson(agent: Agent): Promise<StatusJson> {
    const result = await fed.run(agent, ["status", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as StatusJson;
  }

  const lags = (json: StatusJson) =>
    Object.fromEntries(json.sets[0]!.machines.map((m) => [m.machine, m.lagSeconds]));

  test("a machine that has not synced the newest change is behind it; the others are up to date", async () => {
    writeTree(a.root(), { "one.txt": "1" });
    for (const agent of [a, b, c]) await fed.sync(agent);
    writeTree(a.root(), { "two.txt": "2" });
    await fed.sync(a);
    await fed.sync(b);

    const text = await fed.run(b, ["status"]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trimEnd().split("\n");
    assert.match(lines[2]!, /^ {2}3 machines, 0 offline, 1 behind; newest change \d+s ago$/);
    assert.match(lines[3]!, /^ {2}machine-a: last good pass \d+s ago; up to date; 2 files, 0 directories; v/);
    assert.match(
      lines[4]!,
      /^ {2}machine-b \(this machine\): last good pass \d+s ago; up to date; 2 files, 0 directories; v/,
    );
    assert.match(lines[5]!, /^ {2}machine-c: last good pass \d+s ago; \d+s behind; 1 file, 0 directories; v/);
    assert.equal(lines.length, 6);

    const json = await statusJson(b);
    const set = json.sets[0]!;
    const [ma, mb, mc] = set.machines;
    assert.deepEqual(
      set.machines.map((m) => [m.machine, m.thisMachine]),
      [
        ["machine-a", false],
        ["machine-b", true],
        ["machine-c", false],
      ],
    );
    assert.equal(ma!.lagSeconds, 0);
    assert.equal(mb!.lagSeconds, 0);
    assert.ok(mc!.lagSeconds! > 0, `machine-c's lag: ${mc!.lagSeconds}`);
    // The lag is the newest change's time less the time up to which machine-c applied the log.
    assert.equal(mc!.lagSeconds! * 1000, Date.parse(set.newestChange!) - Date.parse(mc!.appliedThrough!));
    assert.ok(Date.parse(mb!.appliedThrough!) >= Date.parse(set.newestChange!));

    await fed.sync(c);
    assert.deepEqual(lags(await statusJson(a)), { "machine-a": 0, "machine-b": 0, "machine-c": 0 });
  });

  test("a heartbeat older than offline_after is offline and behind; one from an older fedsync has no lag", async () => {
    const put = (machine: string, body: object) => {
      const text = JSON.stringify({ machine, version: "0.0.9", files: 1, directories: 0, ...body });
      return fed.minio.client.putObject(fed.bucket, `.fedsync/web/machines/${machine}`, text);
    };
    const twoHoursAgo = Date.now() - 2 * 3600_000;
    await put("machine-z", { lastGoodPass: twoHoursAgo, appliedThrough: twoHoursAgo });
    await put("machine-y", { lastGoodPass: Date.now() });
    // Hostile: a machine claiming to have applied changes from next year is not shown at all.
    await put("machine-x", { lastGoodPass: Date.now(), appliedThrough: Date.now() + 365 * 86400_000 });

    const text = await fed.run(c, ["status"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ {2}5 machines, 1 offline, 1 behind; newest change \d+s ago$/m);
    assert.match(
      text.stdout,
      /^ {2}machine-z: last good pass 2h ago \(offline\); 1h behind; 1 file, 0 directories; v0\.0\.9$/m,
    );
    assert.match(
      text.stdout,
      /^ {2}machine-y: last good pass \d+s ago; lag unknown; 1 file, 0 directories; v0\.0\.9$/m,
    );
    assert.match(text.stdout, /^ {2}machine-c \(this machine\): .*; up to date; /m);
    assert.doesNotMatch(text.stdout, /machine-x/);

    const json = await statusJson(c);
    const z = json.sets[0]!.machines.find((m) => m.machine === "machine-z")!;
    assert.equal(z.offline, true);
    assert.ok(z.lagSeconds! > 3600 && z.lagSeconds! < 7200, String(z.lagSeconds));
    const y = json.sets[0]!.machines.find((m) => m.machine === "machine-y")!;
    assert.deepEqual([y.offline, y.appliedThrough, y.lagSeconds], [false, null, null]);
    for (const machine of ["machine-x", "machine-y", "machine-z"])
      await fed.minio.client.removeObject(fed.bucket, `.fedsync/web/machines/${machine}`);
  });

  test("a lightweight agent's heartbeat follows the changes it applies between full passes", async () => {
    const live = [{ name: "live", method: "lightweight" as const }];
    for (const agent of [a, c]) agent.writeConfig(live);
    writeTree(a.root("live"), { "x.txt": "x" });
    await fed.sync(a);
    const agent = new AgentProcess(fed.spawnAgent(c));
    try {
      await agent.waitForLog(/ ready: /);
      await waitUntil(() => fileHas(c.path("x.txt", "live"), "x"), 20_000, "x.txt on machine-c");
      for (let tries = 0; (await statusJson(c)).sets[0]!.notifications !== "healthy"; tries++) {
        assert.ok(tries < 100, "bucket notifications never healthy");
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      writeTree(a.root("live"), { "y.txt": "y" });
      await fed.sync(a);
      await waitUntil(() => fileHas(c.path("y.txt", "live"), "y"), 20_000, "y.txt on machine-c (notified)");
      const notified = await statusJson(c);
      const mine = (json: StatusJson) => json.sets[0]!.machines.find((m) => m.thisMachine)!;
      assert.ok(mine(notified).lagSeconds! > 0, "applied, but no heartbeat says so yet");
      // The next change-log read (every 30 s while notifications are healthy) applies the record and
      // rewrites the heartbeat, without a full pass.
      let after = notified;
      const started = Date.now();
      while (mine(after).lagSeconds !== 0) {
        assert.ok(Date.now() - started < 45_000, `still behind: ${JSON.stringify(mine(after))}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        after = await statusJson(c);
      }
      assert.equal(mine(after).lastGoodPass, mine(notified).lastGoodPass);
    } finally {
      assert.equal(await agent.stop(), 0);
      for (const agent of [a, c]) agent.writeConfig();
    }
  });
});
