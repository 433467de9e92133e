import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchContext, ScenarioResult } from "../context.js";
import { Fleet, FLEET_SETS } from "../fleet.js";
import { fleetReport, type FleetRun, type RcloneRound } from "../fleet-report.js";
import { measureChanges, measureIdle } from "../fleet-windows.js";
import { addCounts, serverBucketRequests, sumCounts, type Counts } from "../prometheus.js";
import { REMOTE } from "../rclone.js";

const SHAPE = { liveFiles: 20, bulkFiles: 100, fileSize: 1024 };
/**
 * One heavyweight interval (2 min ±10 %). The agents start together, so a window opened within the first
 * 108 s holds each agent's second heavyweight pass, once.
 */
const IDLE_WINDOW_MS = 120_000;
const SETTLE_TIMEOUT_MS = 180_000;
/** After the fleet converged, for the start-up passes' last requests. */
const QUIET_MS = 10_000;
/**
 * The change window stays open this long after the last change: longer than the change-log read each
 * lightweight set makes every 30 s (±10 %) while notifications are healthy, so that read's share is counted.
 */
const TAIL_MS = 35_000;
/** MinIO refreshes its request metrics about every 10 s. */
const MINIO_REFRESH_MS = 12_000;

function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/** One `rclone check` of each set of machine 0 against the bucket, with the requests it made. */
async function rcloneRound(ctx: BenchContext, fleet: Fleet, bucket: string): Promise<RcloneRound> {
  const requests: Counts = {};
  for (const set of FLEET_SETS) {
    const run = await ctx.rclone.run(["check", fleet.members[0]!.roots[set], `${REMOTE}:${bucket}/${set}`], {
      countRequests: true,
    });
    addCounts(requests, run.requests ?? {});
  }
  return { requests, total: sumCounts(requests) };
}

/**
 * Scenario 9: fleets of real `fedsync run` agents (3, 6 and 12 in a full run), each machine with a
 * lightweight and a heavyweight set on one bucket: the requests the fleet makes per hour while idle, and per
 * change as the fleet grows, from the agents' own counters (checked against MinIO's count for the bucket);
 * the same per hour for `rclone check` of both sets every minute on every machine.
 */
export async function fleetCost(ctx: BenchContext): Promise<ScenarioResult> {
  const runs: FleetRun[] = [];
  const fleets: Fleet[] = [];
  try {
    for (const machines of ctx.sizes.fleetMachines) {
      const bucket = await ctx.newBucket();
      ctx.log(`fleet cost: starting ${machines} agents`);
      const fleet = await Fleet.start(ctx, bucket, { machines, ...SHAPE });
      fleets.push(fleet);
      await fleet.settle(SETTLE_TIMEOUT_MS);
      await sleep(QUIET_MS);
      const load = loadAverage();
      ctx.log(`fleet cost: ${machines} agents idle for ${IDLE_WINDOW_MS / 1000} s`);
      const idle = await measureIdle(fleet, IDLE_WINDOW_MS);
      ctx.log(`fleet cost: ${ctx.sizes.fleetChanges} changes through ${machines} agents`);
      const change = await measureChanges(
        fleet,
        ctx.sizes.fleetChanges,
        TAIL_MS,
        idle.fleetPerHour / machines,
      );
      await fleet.stop();
      const agentTotal = fleet.finalTotals().reduce((sum, total) => sum + total, 0);
      runs.push({ machines, bucket, load, idle, change, agentTotal, seeding: fleet.seeding.totalRequests });
    }
    await sleep(MINIO_REFRESH_MS);
    for (const run of runs) run.serverTotal = sumCounts(await serverBucketRequests(ctx.minio, run.bucket));
    const rclone = await rcloneRound(ctx, fleets.at(-1)!, runs.at(-1)!.bucket);
    return fleetReport(runs, rclone, IDLE_WINDOW_MS / 1000, TAIL_MS / 1000, SHAPE);
  } finally {
    await Promise.all(fleets.map((fleet) => fleet.remove()));
  }
}
