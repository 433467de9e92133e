import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { runCli, startFederation, type Agent, type Federation, type SetSpec } from "../helpers/federation.js";
import { AgentProcess, fileHas, waitUntil } from "../helpers/agent-process.js";

/** Whether the process runs (a zombie waiting for init to reap it has ended). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Run {
  paths: string[];
  env: Record<string, string>;
}

/** The runs a recording hook left in `dir`: each its stdin lines and its FEDSYNC_ variables. */
function recordedRuns(dir: string): Run[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".env"))
    .sort()
    .map((name) => {
      const base = join(dir, name.slice(0, -".env".length));
      const env = Object.fromEntries(
        readFileSync(`${base}.env`, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
      );
      const paths = readFileSync(`${base}.paths`, "utf8").split("\n").filter(Boolean);
      return { paths, env };
    });
}

/** A hook that records its stdin and FEDSYNC_ variables in `dir`, one pair of files per run (.env last). */
function recorder(dir: string): string {
  return `d=${dir}; mkdir -p "$d"; f="$d/$(date +%s%N)-$$"; cat > "$f.paths"; env | grep '^FEDSYNC_' > "$f.tmp"; mv "$f.tmp" "$f.env"; echo "recorded $FEDSYNC_CHANGED"`;
}

describe("hooks of running agents", () => {
  let fed: Federation;
  let a: Agent;
  let b: Agent;
  let agentA: AgentProcess;
  let agentB: AgentProcess;
  let hookDir: string;

  const plainSets: SetSpec[] = ["conf", "fail", "hang", "slow"].map((name) => ({
    name,
    method: "lightweight",
  }));

  before(async () => {
    fed = await startFederation(2, plainSets);
    [a, b] = fed.agents as [Agent, Agent];
    hookDir = join(fed.dir, "hooks");
    mkdirSync(hookDir);
    for (const agent of [a, b])
      for (const set of plainSets) mkdirSync(agent.root(set.name), { recursive: true });
    b.writeConfig([
      {
        name: "conf",
        method: "lightweight",
        on_change: recorder(join(hookDir, "change")),
        on_conflict: recorder(join(hookDir, "conflict")),
        hook_debounce: "1s",
      },
      {
        name: "fail",
        method: "lightweight",
        on_change: "echo failing on purpose; exit 3",
        hook_debounce: "0s",
      },
      {
        name: "hang",
        method: "lightweight",
        on_change: `sleep 120 & echo $! > ${hookDir}/hang.pid; wait`,
        hook_timeout: "1s",
        hook_debounce: "0s",
      },
      {
        name: "slow",
        method: "lightweight",
        on_change: `echo "start $(date +%s%N)" >> ${hookDir}/slow.log; sleep 1; echo "end $(date +%s%N)" >> ${hookDir}/slow.log`,
        hook_debounce: "0s",
      },
    ]);
    agentA = new AgentProcess(fed.spawnAgent(a));
    agentB = new AgentProcess(fed.spawnAgent(b));
    await agentA.waitForLog(/ready/);
    await agentB.waitForLog(/ready/);
  });
  after(async () => {
    await agentA?.stop();
    await agentB?.stop();
    await fed?.close();
  });

  test("a bad hook setting stops fedsync run with exit 2, naming each key", async () => {
    const config = parse(readFileSync(a.configPath, "utf8")) as { sets: Record<string, unknown>[] };
    config.sets[1]!.on_change = 'echo "unterminated';
    config.sets[2]!.hook_timeout = "0s";
    const path = join(fed.dir, "bad-hooks.yaml");
    writeFileSync(path, stringify(config));
    const result = await runCli(["--config", path, "run"]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^(fedsync: )?sets\[1\]\.on_change: shell syntax error: \S/m);
    assert.match(result.stderr, /^(fedsync: )?sets\[2\]\.hook_timeout: must be longer than 0$/m);
  });

  test("50 files written on A make one or a few on_change runs on B, whose stdin covers them all", async () => {
    const names = Array.from({ length: 50 }, (_, i) => `site-${String(i).padStart(2, "0")}.conf`);
    for (const name of names) writeFileSync(a.path(name, "conf"), `server_name ${name};\n`);
    // A name from the bucket holding a newline is counted, never listed: it could pose as two paths.
    writeFileSync(a.path("evil\nsite-00.conf", "conf"), "x\n");
    await waitUntil(
      () => names.every((name) => existsSync(b.path(name, "conf"))),
      30_000,
      "the 50 files on B",
    );
    const changeDir = join(hookDir, "change");
    await waitUntil(
      () => new Set(recordedRuns(changeDir).flatMap((run) => run.paths)).size >= names.length,
      30_000,
      "on_change runs covering the 50 paths",
    );
    await sleep(3000); // any further run would come within the debounce time
    const runs = recordedRuns(changeDir);
    console.log(
      `50 files on A: ${runs.length} on_change run(s) on B, of ${runs.map((r) => r.paths.length).join(", ")} paths`,
    );
    assert.ok(runs.length >= 1 && runs.length <= 8, `${runs.length} runs for 50 files`);
    assert.deepEqual([...new Set(runs.flatMap((run) => run.paths))].sort(), names);
    const counted = runs.reduce((sum, run) => sum + Number(run.env.FEDSYNC_CHANGED), 0);
    assert.ok(counted >= names.length + 1, `FEDSYNC_CHANGED adds up to ${counted}`);
    for (const run of runs) {
      assert.equal(run.env.FEDSYNC_SET, "conf");
      assert.equal(run.env.FEDSYNC_ROOT, b.root("conf"));
      assert.equal(run.env.FEDSYNC_MACHINE, "machine-b");
      assert.equal(run.env.FEDSYNC_HOOK, "on_change");
      assert.ok(Number(run.env.FEDSYNC_CHANGED) >= run.paths.length);
    }
    const logged = agentB.output
      .split("\n")
      .filter((line) => / \[conf\] on_change hook ran: exit 0/.test(line));
    assert.equal(logged.length, runs.length, agentB.output);
    assert.match(logged[0]!, /output="recorded \d+"/);
    assert.ok(!/ hook (ran|failed|timed out)/.test(agentA.output), "A has no hooks and ran none");
  });

  test("a failing hook (exit 3) is logged and breaks nothing: the set keeps syncing", async () => {
    writeFileSync(a.path("one.txt", "fail"), "1\n");
    await agentB.waitForLog(/warn \[fail\] on_change hook failed: exit 3 .*output="failing on purpose"/);
    writeFileSync(a.path("two.txt", "fail"), "2\n");
    await waitUntil(() => fileHas(b.path("two.txt", "fail"), "2\n"), 30_000, "two.txt on B");
    await waitUntil(
      () =>
        agentB.output.split("\n").filter((line) => line.includes("[fail] on_change hook failed: exit 3"))
          .length >= 2,
      30_000,
      "the hook's second run",
    );
  });

  test("a hook that hangs is killed at its timeout, its whole process group with it", async () => {
    const started = Date.now();
    writeFileSync(a.path("stuck.txt", "hang"), "x\n");
    await waitUntil(() => existsSync(join(hookDir, "hang.pid")), 30_000, "the hook to start");
    const child = Number(readFileSync(join(hookDir, "hang.pid"), "utf8"));
    await agentB.waitForLog(/warn \[hang\] on_change hook timed out after 1s; its process group was killed/);
    assert.ok(Date.now() - started >= 1000);
    await waitUntil(() => !alive(child), 5000, `the hook's sleep (pid ${child}) to end`);
    writeFileSync(a.path("next.txt", "hang"), "y\n");
    await waitUntil(() => fileHas(b.path("next.txt", "hang"), "y\n"), 30_000, "next.txt on B");
  });

  test("runs of one hook never overlap; changes during a run are queued into one next run", async () => {
    for (let i = 0; i < 6; i++) {
      writeFileSync(a.path(`change-${i}.txt`, "slow"), `${i}\n`);
      await sleep(300);
    }
    await waitUntil(() => existsSync(b.path("change-5.txt", "slow")), 30_000, "the changes on B");
    const log = join(hookDir, "slow.log");
    const finished = () => readFileSync(log, "utf8").trim().split("\n");
    // Wait until the log ends with an "end" and stays so for longer than a run would take to start.
    let settled = "";
    await waitUntil(
      () => {
        const text = existsSync(log) ? readFileSync(log, "utf8") : "";
        const done = text.endsWith("\n") && finished().at(-1)!.startsWith("end") && text === settled;
        settled = text;
        return done;
      },
      30_000,
      "the hook runs to finish",
    );
    await sleep(2500);
    const events = finished().map((line) => {
      const [kind, ns] = line.split(" ");
      return { kind: kind!, at: BigInt(ns!) };
    });
    const runs = events.length / 2;
    console.log(`6 changes 300 ms apart, a hook of 1 s: ${runs} run(s), none overlapping`);
    assert.ok(runs >= 2 && runs < 6, `${runs} runs for 6 changes 300 ms apart (${finished().join(", ")})`);
    for (let i = 0; i < events.length; i++) {
      assert.equal(events[i]!.kind, i % 2 === 0 ? "start" : "end", "runs overlapped");
      if (i > 0) assert.ok(events[i]!.at >= events[i - 1]!.at);
    }
  });

  test("a conflict found when B starts runs on_conflict with the copy's path", async () => {
    await agentB.stop();
    writeFileSync(a.path("clash.conf", "conf"), "from A\n");
    await agentA.waitForLog(/pass complete: 1 up,/);
    writeFileSync(b.path("clash.conf", "conf"), "from B\n");
    const later = new Date(Date.now() + 60_000);
    utimesSync(b.path("clash.conf", "conf"), later, later);
    agentB = new AgentProcess(fed.spawnAgent(b));
    const conflictDir = join(hookDir, "conflict");
    await waitUntil(
      () => recordedRuns(conflictDir).length === 1,
      30_000,
      "the on_conflict run",
      () => agentB.output,
    );
    const [run] = recordedRuns(conflictDir);
    assert.equal(run!.paths.length, 1);
    assert.match(run!.paths[0]!, /^clash\.fedsync-conflict-\d{8}-\d{6}-machine-a\.conf$/);
    assert.equal(run!.env.FEDSYNC_HOOK, "on_conflict");
    assert.equal(run!.env.FEDSYNC_CHANGED, "1");
    assert.ok(fileHas(b.path(run!.paths[0]!, "conf"), "from A\n"), "the copy holds A's version");
    assert.ok(fileHas(b.path("clash.conf", "conf"), "from B\n"), "B's newer version keeps the name");
    await waitUntil(
      () => recordedRuns(join(hookDir, "change")).some((r) => r.paths.includes(run!.paths[0]!)),
      30_000,
      "on_change to report the copy",
    );
  });
});
