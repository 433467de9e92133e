import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AgentProcess } from "../agent.js";
import { verdict, type BenchContext, type Row, type ScenarioResult } from "../context.js";
import { FedsyncMachine } from "../fedsync.js";
import { measure, removeTree } from "../process.js";
import { formatNumber, formatSummary, summarize, type Summary } from "../stats.js";
import { writeTreeFiles } from "../trees.js";

const RUNS = 10;
/** How long the agent is left alone before its memory is read. */
const IDLE_MS = 30_000;

async function timed(ctx: BenchContext, label: string, args: string[]) {
  const seconds: number[] = [];
  const rss: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const result = await measure(process.execPath, args);
    seconds.push(result.seconds);
    rss.push(result.peakRssMiB);
  }
  ctx.log(`lean process: ${label} measured`);
  return { seconds: summarize(seconds), rss: summarize(rss) };
}

function vmKiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) : NaN;
}

/**
 * Scenario 8: what a command costs before it does anything (`--version`, `status`) against Node.js starting
 * with nothing to do, and the resident memory of an idle agent with two sets.
 */
export async function lean(ctx: BenchContext): Promise<ScenarioResult> {
  const bucket = await ctx.newBucket();
  const web = join(ctx.work, "lean-web");
  const conf = join(ctx.work, "lean-conf");
  writeTreeFiles(web, 1000, 4096);
  mkdirSync(conf, { recursive: true });
  writeTreeFiles(conf, 50, 512);
  const machine = new FedsyncMachine(ctx.cli, join(ctx.work, "lean-home"), ctx.minio, bucket, [
    { name: "web", path: web, method: "heavyweight" },
    { name: "conf", path: conf, method: "lightweight" },
  ]);
  await machine.sync();

  const floor = await timed(ctx, "node -e 0", ["-e", "0"]);
  const version = await timed(ctx, "--version", [ctx.cli, "--version"]);
  const status = await timed(ctx, "status", [ctx.cli, "--config", machine.configPath, "status"]);

  const agent = new AgentProcess(machine);
  let idleRssMiB = NaN;
  let peakMiB = NaN;
  try {
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    if (!agent.running) throw new Error(`the agent stopped:\n${agent.log}`);
    idleRssMiB = vmKiB(agent.pid, "VmRSS") / 1024;
    peakMiB = vmKiB(agent.pid, "VmHWM") / 1024;
  } finally {
    await agent.stop();
  }
  await removeTree(web);
  await removeTree(conf);

  const row = (what: string, measured: { seconds: Summary; rss: Summary }): Row[] => [
    {
      scenario: `8. ${what}`,
      metric: "seconds",
      fedsync: formatSummary(measured.seconds, "s"),
      reference: `node -e 0: ${formatSummary(floor.seconds, "s")}`,
      ratio: "",
      target: "under 0.1 s",
      verdict: verdict(measured.seconds.median < 0.1),
    },
    {
      scenario: `8. ${what}`,
      metric: "peak RSS",
      fedsync: formatSummary(measured.rss, "MiB"),
      reference: `node -e 0: ${formatSummary(floor.rss, "MiB")}`,
      ratio: "",
      target: "under 60 MiB",
      verdict: verdict(measured.rss.median < 60),
    },
  ];
  return {
    rows: [
      ...row("fedsync --version", version),
      ...row("fedsync status (2 sets)", status),
      {
        scenario: "8. idle agent, 2 sets (1,000 and 50 files)",
        metric: "RSS",
        fedsync: `${formatNumber(idleRssMiB)} MiB (peak ${formatNumber(peakMiB)} MiB)`,
        reference: "",
        ratio: "",
        target: "under 100 MiB",
        verdict: verdict(idleRssMiB < 100),
      },
    ],
    notes: [
      `Lean process: medians of ${RUNS} runs each; the agent's RSS is read from /proc ${IDLE_MS / 1000} s after its start, with its start-up passes done.`,
    ],
  };
}
