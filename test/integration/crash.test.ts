import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ageTree, passSummary, tempFilesUnder } from "../helpers/checks.js";
import {
  cliPath,
  snapshot,
  startFederation,
  writeTree,
  type Agent,
  type Federation,
} from "../helpers/federation.js";
import { createRandom, testSeed, type Random } from "../helpers/random.js";

const KILLS = 5;

interface KilledRun {
  delayMs: number;
  /** Transfers the run completed before it died. */
  transfers: number;
  /** Exit code when the run finished before the kill. */
  finished?: number;
}

/**
 * Starts `fedsync sync` on the agent and SIGKILLs it `delayMs` after its first transfer (the log names each
 * one at debug level), so every kill lands in the middle of the work rather than during start-up.
 */
function syncKilledMidway(agent: Agent, delayMs: number): Promise<KilledRun> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [cliPath, "--config", agent.configPath, "sync"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let timer: NodeJS.Timeout | undefined;
    let transfers = 0;
    let partial = "";
    child.stderr.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      transfers += lines.filter((line) => / \[web\] (uploaded|downloaded) /.test(line)).length;
      if (!timer && transfers > 0) timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      clearTimeout(timer);
      done(code === null ? { delayMs, transfers } : { delayMs, transfers, finished: code });
    });
  });
}

async function crashRepeatedly(agent: Agent, random: Random): Promise<KilledRun[]> {
  const runs: KilledRun[] = [];
  for (let i = 0; i < KILLS; i++) runs.push(await syncKilledMidway(agent, random.int(50, 1500)));
  return runs;
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("crash safety: sync killed at random points", () => {
  let fed: Federation;
  const seed = testSeed();
  const random = createRandom(seed);
  const expected = new Map<string, string>();

  before(async () => {
    console.log(`crash test seed ${seed} (replay with FEDSYNC_TEST_SEED=${seed})`);
    fed = await startFederation(2, [{ name: "web" }], { log: { level: "debug" } });
    const a = fed.agents[0]!;
    const files: Record<string, string> = {};
    for (let i = 0; i < 2000; i++)
      files[`d${i % 40}/sub${i % 3}/f-${i}.txt`] = `file ${i} ${"x".repeat(i % 300)}`;
    writeTree(a.root(), files);
    for (const [rel, content] of Object.entries(files)) expected.set(rel, sha256(content));
    for (const [rel, size] of [
      ["big/two.bin", 2 * 1024 * 1024],
      ["big/three.bin", 3 * 1024 * 1024 + 17],
      ["d7/five.bin", 5 * 1024 * 1024 - 5],
    ] as const) {
      const data = randomBytes(size);
      mkdirSync(dirname(a.path(rel)), { recursive: true });
      writeFileSync(a.path(rel), data);
      expected.set(rel, sha256(data));
    }
    ageTree(a.root(), new Date(Date.now() - 3600_000));
  });
  after(async () => {
    await fed?.close();
  });

  test("uploads then downloads survive repeated SIGKILLs: no temp files, no partial files, nothing left to do", async () => {
    const [a, b] = fed.agents as [Agent, Agent];
    const killedA = await crashRepeatedly(a, random);
    // A crash during a write leaves its temp file behind; plant one more so the cleanup is always exercised.
    writeFileSync(join(a.root(), "d3", ".fedsync-tmp-deadbeef0001"), "left by a crash");
    const finalA = await fed.sync(a);
    assert.match(finalA.stderr, /removed \d+ stale temp file/);

    const killedB = await crashRepeatedly(b, random);
    const leftOnB = tempFilesUnder(b.root());
    writeFileSync(join(b.root(), "big", ".fedsync-tmp-deadbeef0002"), "partial download");
    const finalB = await fed.sync(b);
    assert.match(finalB.stderr, /removed \d+ stale temp file/);
    console.log(
      `kills on A ${JSON.stringify(killedA)}; on B ${JSON.stringify(killedB)}; temp files the kills left on B: ${leftOnB.length}`,
    );

    assert.ok(
      [killedA, killedB].every((runs) => runs.some((run) => run.finished === undefined && run.transfers > 0)),
      "some runs on each side were killed in the middle of their transfers",
    );
    assert.deepEqual(tempFilesUnder(a.root()), []);
    assert.deepEqual(tempFilesUnder(b.root()), []);
    for (const agent of [a, b]) {
      const files = new Map(
        [...snapshot(agent.root())]
          .filter(([, entry]) => entry.type === "file")
          .map(([rel, e]) => [rel, e.sha256]),
      );
      assert.deepEqual(files, expected, `agent ${agent.name} holds exactly what A wrote`);
    }
    assert.deepEqual(snapshot(b.root(), { mtimes: true }), snapshot(a.root(), { mtimes: true }));

    for (const agent of [a, b]) {
      const summary = passSummary((await fed.sync(agent)).stderr);
      assert.equal(summary.up, 0, `${agent.name} uploads nothing more`);
      assert.equal(summary.down, 0, `${agent.name} downloads nothing more`);
      assert.equal(summary.deletedHere + summary.deletedRemotely + summary.conflicts, 0);
    }
  });
});
