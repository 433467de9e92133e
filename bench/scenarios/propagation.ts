import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentProcess } from "../agent.js";
import { countObjects } from "../bucket.js";
import { verdict, type BenchContext, type ScenarioResult } from "../context.js";
import { FedsyncMachine } from "../fedsync.js";
import { formatNumber, percentile } from "../stats.js";
import { treePath, writeTreeFiles } from "../trees.js";

const POLL_MS = 10;
/** How long one change may take to show up on B before it counts as lost. */
const CHANGE_TIMEOUT_MS = 30_000;
const ROTATING_FILES = 20;
const BURST_FILE_SIZE = 512;

function readOrNull(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

/** Waits until `path` holds exactly `content`; the milliseconds it took, or null on timeout. */
async function waitForContent(path: string, content: Buffer, started: number): Promise<number | null> {
  while (performance.now() - started < CHANGE_TIMEOUT_MS) {
    const current = readOrNull(path);
    if (current && current.equals(content)) return performance.now() - started;
    await sleep(POLL_MS);
  }
  return null;
}

function countFiles(root: string): number {
  let total = 0;
  let dirs: string[];
  try {
    dirs = readdirSync(root);
  } catch {
    return 0;
  }
  for (const dir of dirs) {
    try {
      total += readdirSync(join(root, dir)).filter((name) => name.endsWith(".dat")).length;
    } catch {
      // not a directory, or not there yet
    }
  }
  return total;
}

function treeDigest(root: string, count: number): string[] {
  const digests: string[] = [];
  for (let index = 0; index < count; index++) {
    const content = readOrNull(join(root, treePath(index)));
    digests.push(content ? createHash("sha256").update(content).digest("hex") : "missing");
  }
  return digests;
}

/**
 * Scenario 5: two `fedsync run` agents on a lightweight set. Single-file changes on A, timed until B has the
 * new content; then a burst of files written on A at once, counted on B until all arrived.
 */
export async function propagation(ctx: BenchContext): Promise<ScenarioResult> {
  const { propagationChanges: changes, burstFiles } = ctx.sizes;
  const bucket = await ctx.newBucket();
  const roots = { a: join(ctx.work, "live-a"), b: join(ctx.work, "live-b") };
  mkdirSync(roots.a, { recursive: true });
  mkdirSync(roots.b, { recursive: true });
  const machines = (["a", "b"] as const).map(
    (name) =>
      new FedsyncMachine(ctx.cli, join(ctx.work, `live-${name}-home`), ctx.minio, bucket, [
        { name: "live", path: roots[name], method: "lightweight" },
      ]),
  );
  const agents = machines.map((machine) => new AgentProcess(machine));
  const [agentA, agentB] = agents as [AgentProcess, AgentProcess];
  const failure = (what: string) =>
    new Error(
      `${what}\n--- agent A ---\n${agentA.log.slice(-1500)}\n--- agent B ---\n${agentB.log.slice(-1500)}`,
    );
  try {
    ctx.log("propagation: waiting for both agents to sync a first file");
    const probe = Buffer.from("probe\n");
    writeFileSync(join(roots.a, "probe.txt"), probe);
    const ready = await waitForContent(join(roots.b, "probe.txt"), probe, performance.now());
    if (ready === null || !agentA.running || !agentB.running) {
      throw failure("the agents did not propagate a first file within 30 s");
    }

    ctx.log(`propagation: ${changes} single-file changes`);
    mkdirSync(join(roots.a, "edits"), { recursive: true });
    const latencies: number[] = [];
    let lost = 0;
    for (let i = 0; i < changes; i++) {
      const path = `edits/file-${i % ROTATING_FILES}.txt`;
      const content = Buffer.from(`change ${i} at ${Date.now()}\n`);
      const started = performance.now();
      writeFileSync(join(roots.a, path), content);
      const latency = await waitForContent(join(roots.b, path), content, started);
      if (latency === null) lost++;
      else latencies.push(latency);
      await sleep(50 + Math.random() * 100);
    }
    if (latencies.length === 0) throw failure("no single-file change reached B");
    const p50 = percentile(latencies, 50) / 1000;
    const p99 = percentile(latencies, 99) / 1000;

    ctx.log(`propagation: burst of ${burstFiles} files`);
    const burstA = join(roots.a, "burst");
    const burstB = join(roots.b, "burst");
    const burstStarted = performance.now();
    writeTreeFiles(burstA, burstFiles, BURST_FILE_SIZE);
    const written = (performance.now() - burstStarted) / 1000;
    const deadline = burstStarted + (ctx.mode === "quick" ? 180_000 : 900_000);
    let present = 0;
    while (performance.now() < deadline) {
      present = countFiles(burstB);
      if (present >= burstFiles) break;
      await sleep(1000);
    }
    const converged = (performance.now() - burstStarted) / 1000;
    const expected = treeDigest(burstA, burstFiles);
    const actual = treeDigest(burstB, burstFiles);
    const missing = expected.filter((digest, i) => digest !== actual[i]).length;
    const inBucket = await countObjects(ctx.minio, bucket, "live/burst/");
    const lostBurst = Math.max(missing, burstFiles - inBucket);
    const rss = agents.map((agent) => agent.peakRssMiB());

    return {
      rows: [
        {
          scenario: "5. lightweight A→B, single-file change",
          metric: "p50 / p99 latency",
          fedsync: `p50 ${formatNumber(p50)} s, p99 ${formatNumber(p99)} s (n=${latencies.length}${lost ? `, ${lost} timed out` : ""})`,
          reference: "",
          ratio: "",
          target: "p50 < 1 s, p99 < 3 s",
          verdict: verdict(p50 < 1 && p99 < 3 && lost === 0),
        },
        {
          scenario: `5. lightweight burst of ${burstFiles.toLocaleString("en-US")} files`,
          metric: "lost files; seconds until B has all",
          fedsync: `${lostBurst} lost; ${present >= burstFiles ? `${formatNumber(converged)} s` : `not converged after ${formatNumber(converged)} s`}`,
          reference: "",
          ratio: "",
          target: "0 lost",
          verdict: verdict(lostBurst === 0),
        },
      ],
      notes: [
        `Propagation: changes are rewrites of ${ROTATING_FILES} files on A, one at a time, each timed from the write until B's copy holds the new bytes (B polled every ${POLL_MS} ms); default debounce and poll interval. The burst is written on A in ${formatNumber(written)} s; its time to converge counts from the first write. Agent peak RSS: A ${formatNumber(rss[0]!)} MiB, B ${formatNumber(rss[1]!)} MiB.`,
      ],
    };
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()));
  }
}
