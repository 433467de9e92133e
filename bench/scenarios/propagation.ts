import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentProcess, type RequestSample } from "../agent.js";
import { countObjects } from "../bucket.js";
import { verdict, type BenchContext, type Row, type ScenarioResult } from "../context.js";
import { FedsyncMachine } from "../fedsync.js";
import { formatNumber, percentile } from "../stats.js";
import { treePath, writeTreeFiles } from "../trees.js";

const POLL_MS = 10;
/** How long one change may take to show up on B before it counts as lost. */
const CHANGE_TIMEOUT_MS = 30_000;
const EDITED_FILES = 20;
/** The pause after each edit, drawn uniformly from this range (ms). */
const EDIT_PAUSE_MS = [500, 1500] as const;
const BURST_FILE_SIZE = 512;
const TARGET_P50_S = 0.5;
const TARGET_P99_S = 1;
const TARGET_IDLE_PER_HOUR = 200;
/** The idle window spans at least one safety pass (every 10 min ±10 %) in a full run. */
const IDLE_WINDOW_MS = { full: 10 * 60_000, quick: 2 * 60_000 };
/** Agents log their request count every minute: a window waits this long past its length at most. */
const SAMPLE_SLACK_MS = 3 * 60_000;

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

interface Timed {
  latencies: number[];
  lost: number;
}

/** Makes `count` changes on A one at a time, each timed until B holds its bytes, then `pause()` ms of rest. */
async function timeChanges(
  roots: { a: string; b: string },
  count: number,
  change: (index: number) => string,
  pause: () => number,
): Promise<Timed> {
  const timed: Timed = { latencies: [], lost: 0 };
  for (let index = 0; index < count; index++) {
    const path = change(index);
    const content = Buffer.from(`change ${index} of ${path} at ${Date.now()}\n`);
    const started = performance.now();
    writeFileSync(join(roots.a, path), content);
    const latency = await waitForContent(join(roots.b, path), content, started);
    if (latency === null) timed.lost++;
    else timed.latencies.push(latency);
    await sleep(pause());
  }
  return timed;
}

function latencyRow(scenario: string, timed: Timed): Row {
  const n = timed.latencies.length;
  const p50 = n ? percentile(timed.latencies, 50) / 1000 : NaN;
  const p99 = n ? percentile(timed.latencies, 99) / 1000 : NaN;
  return {
    scenario,
    metric: "p50 / p99 latency",
    fedsync: `p50 ${formatNumber(p50)} s, p99 ${formatNumber(p99)} s (n=${n}${timed.lost ? `, ${timed.lost} timed out` : ""})`,
    reference: "",
    ratio: "",
    target: `p50 < ${TARGET_P50_S} s, p99 < ${TARGET_P99_S} s`,
    verdict: verdict(p50 < TARGET_P50_S && p99 < TARGET_P99_S && timed.lost === 0),
  };
}

interface IdleRate {
  perHour: number;
  minutes: number;
  /** Full passes (the safety pass) inside the window. */
  passes: number;
}

async function nextSample(agent: AgentProcess, accept: (sample: RequestSample) => boolean, deadline: number) {
  for (;;) {
    const sample = agent.requestSamples.find(accept);
    if (sample) return sample;
    if (Date.now() > deadline || !agent.running) throw new Error("the agent stopped logging its requests");
    await sleep(1000);
  }
}

/** Requests an agent made per hour over an idle window of at least `windowMs`, from its own counts. */
async function idleRate(agent: AgentProcess, windowMs: number): Promise<IdleRate> {
  const opened = Date.now();
  const deadline = opened + windowMs + SAMPLE_SLACK_MS;
  const first = await nextSample(agent, (sample) => sample.at >= opened, deadline);
  const last = await nextSample(agent, (sample) => sample.at - first.at >= windowMs, deadline);
  const span = last.at - first.at;
  return {
    perHour: ((last.total - first.total) / span) * 3_600_000,
    minutes: span / 60_000,
    passes: agent.passTimes.filter((at) => at > first.at && at <= last.at).length,
  };
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
 * Scenario 5: two `fedsync run` agents on a lightweight set, default settings. New files written on A back to
 * back (the next as soon as B has the last) and edits of existing files with pauses, each timed until B has
 * the new bytes; the requests each agent makes per hour while idle; then a burst of files written on A at
 * once, counted on B until all arrived.
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
    mkdirSync(join(roots.a, "new"), { recursive: true });
    mkdirSync(join(roots.a, "edits"), { recursive: true });
    const setUp = await timeChanges(
      roots,
      EDITED_FILES,
      (i) => `edits/file-${i}.txt`,
      () => 0,
    );
    if (setUp.lost > 0) throw failure("the files to edit did not reach B");
    await sleep(2000);

    ctx.log(`propagation: ${changes} new files back to back`);
    const created = await timeChanges(
      roots,
      changes,
      (i) => `new/file-${i}.txt`,
      () => 0,
    );
    ctx.log(`propagation: ${changes} edits with pauses`);
    const [low, high] = EDIT_PAUSE_MS;
    const edited = await timeChanges(
      roots,
      changes,
      (i) => `edits/file-${i % EDITED_FILES}.txt`,
      () => low + Math.random() * (high - low),
    );
    if (created.latencies.length === 0 || edited.latencies.length === 0) throw failure("no change reached B");

    const windowMs = IDLE_WINDOW_MS[ctx.mode];
    ctx.log(`propagation: requests while idle, over ${windowMs / 60_000} min`);
    await sleep(5000);
    const [idleA, idleB] = await Promise.all([idleRate(agentA, windowMs), idleRate(agentB, windowMs)]);

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
    const idleText = (rate: IdleRate) => `${formatNumber(rate.perHour)}/h`;

    return {
      rows: [
        latencyRow("5. lightweight A→B, new files back to back", created),
        latencyRow("5. lightweight A→B, edits with pauses", edited),
        {
          scenario: "5. lightweight set, idle",
          metric: "requests per hour per set and machine",
          fedsync: `A ${idleText(idleA)}, B ${idleText(idleB)}`,
          reference: "",
          ratio: "",
          target: `≤ ${TARGET_IDLE_PER_HOUR}/h`,
          verdict: verdict(Math.max(idleA.perHour, idleB.perHour) <= TARGET_IDLE_PER_HOUR),
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
        `Propagation: each change is timed from the write on A until B's copy holds the new bytes (B polled every ${POLL_MS} ms); default settings (debounce 50 ms, bucket notifications, the change log read every 30 s while they are healthy). New files: ${changes} files written one after another, each as soon as the previous one reached B. Edits: ${changes} rewrites of ${EDITED_FILES} existing files, with a pause of ${EDIT_PAUSE_MS[0] / 1000} to ${EDIT_PAUSE_MS[1] / 1000} s after each.`,
        `Idle requests: each agent's own count (FEDSYNC_REQUEST_STATS=1, logged every minute) over ${formatNumber(idleA.minutes)} min (A) and ${formatNumber(idleB.minutes)} min (B) without changes, scaled to an hour; the windows held ${idleA.passes} and ${idleB.passes} safety pass(es). The burst is written on A in ${formatNumber(written)} s; its time to converge counts from the first write. Agent peak RSS: A ${formatNumber(rss[0]!)} MiB, B ${formatNumber(rss[1]!)} MiB.`,
      ],
    };
  } finally {
    await Promise.all(agents.map((agent) => agent.stop()));
  }
}
