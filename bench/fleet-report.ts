import { verdict, type Row, type ScenarioResult } from "./context.js";
import { formatRequests } from "./fedsync.js";
import type { ChangeCost, IdleCost } from "./fleet-windows.js";
import type { Counts } from "./prometheus.js";
import { formatNumber, formatRatio, linearFit, percentile } from "./stats.js";

/** Per set and machine, as scenario 5 asks of one lightweight set; each machine here has two sets. */
const TARGET_IDLE_PER_SET = 200;
const SETS_PER_MACHINE = 2;
/** Noise allowed when comparing the cost of a change per machine between fleet sizes. */
const LINEAR_SLACK = 1.1;
const EXTRAPOLATED = [100, 1000];
const CHECKS_PER_HOUR = 60;

export interface FleetRun {
  machines: number;
  bucket: string;
  /** The load average as the idle window opened. */
  load: string;
  idle: IdleCost;
  change: ChangeCost;
  /** Every agent's requests from its start to its stop, as each logged them. */
  agentTotal: number;
  /** The one-shot sync that seeded the bucket. */
  seeding: number;
  /** MinIO's own count of requests for the bucket. */
  serverTotal?: number;
}

export interface RcloneRound {
  /** One `rclone check` of each set. */
  requests: Counts;
  total: number;
}

const count = (value: number) => value.toLocaleString("en-US");
const perHour = (value: number) => `${formatNumber(value)}/h`;

function idleRow(run: FleetRun, rclone: RcloneRound): Row {
  const rates = run.idle.perMachinePerHour;
  const perMachine = run.idle.fleetPerHour / run.machines;
  const theirs = rclone.total * CHECKS_PER_HOUR * run.machines;
  return {
    scenario: `9. fleet of ${run.machines} agents, idle`,
    metric: "requests per hour: fleet; per machine",
    fedsync: `${perHour(run.idle.fleetPerHour)}; ${perHour(perMachine)} per machine (${formatNumber(Math.min(...rates))}–${formatNumber(Math.max(...rates))})`,
    reference: `rclone check of both sets every minute on each machine: ${perHour(theirs)}`,
    ratio: formatRatio(theirs / run.idle.fleetPerHour),
    target: `≤ ${TARGET_IDLE_PER_SET * SETS_PER_MACHINE}/h per machine (${TARGET_IDLE_PER_SET} per set)`,
    verdict: verdict(perMachine <= TARGET_IDLE_PER_SET * SETS_PER_MACHINE),
  };
}

function changeRow(run: FleetRun): Row {
  const { change } = run;
  return {
    scenario: `9. fleet of ${run.machines} agents, one change`,
    metric: "requests per change: fleet (writer, each other machine); per machine",
    fedsync: `${formatNumber(change.perChange)} (writer ${formatNumber(change.writer)}, each other ${formatNumber(change.perReceiver)}); ${formatNumber(change.perChange / run.machines)} per machine${change.lost ? `; ${change.lost} of ${change.changes} changes timed out` : ""}`,
    reference: "",
    ratio: "",
    target: "0 lost",
    verdict: verdict(change.lost === 0),
  };
}

/** What each step up in fleet size added to the cost of a change, per machine added. */
function addedPerMachine(runs: FleetRun[]): string {
  return runs
    .slice(1)
    .map((run, i) => {
      const previous = runs[i]!;
      const added = (run.change.perChange - previous.change.perChange) / (run.machines - previous.machines);
      return `${previous.machines}→${run.machines} ${formatNumber(added)}`;
    })
    .join(", ");
}

function linearityRow(runs: FleetRun[]): Row {
  const ratio = (run: FleetRun) => run.change.perChange / run.machines;
  const [first, last] = [runs[0]!, runs.at(-1)!];
  const ratios = runs.map((run) => `${run.machines}: ${formatNumber(ratio(run))}`).join(", ");
  return {
    scenario: "9. fleet, cost of one change as the fleet grows",
    metric: "requests per change ÷ machines; per machine added",
    fedsync: `${ratios}; ${addedPerMachine(runs)}`,
    reference: "",
    ratio: "",
    target: `at most linear in machines (at ${last.machines} ≤ ${LINEAR_SLACK}× at ${first.machines})`,
    verdict: verdict(ratio(last) <= LINEAR_SLACK * ratio(first)),
  };
}

function fits(runs: FleetRun[]) {
  return {
    idle: linearFit(runs.map((run) => ({ x: run.machines, y: run.idle.fleetPerHour }))),
    change: linearFit(runs.map((run) => ({ x: run.machines, y: run.change.perChange }))),
  };
}

function extrapolatedRows(runs: FleetRun[], rclone: RcloneRound): Row[] {
  const { idle, change } = fits(runs);
  return EXTRAPOLATED.map((machines) => {
    const idleRate = idle.intercept + idle.slope * machines;
    const theirs = rclone.total * CHECKS_PER_HOUR * machines;
    return {
      scenario: `9. fleet of ${count(machines)} machines (extrapolated from ${runs.map((run) => run.machines).join(", ")}, not measured)`,
      metric: "idle requests per hour (fleet); requests per change",
      fedsync: `${perHour(idleRate)}; ${formatNumber(change.intercept + change.slope * machines)} per change`,
      reference: `rclone check every minute: ${perHour(theirs)}`,
      ratio: formatRatio(theirs / idleRate),
      target: "",
      verdict: "",
    };
  });
}

function notes(
  runs: FleetRun[],
  rclone: RcloneRound,
  idleSeconds: number,
  tailSeconds: number,
  shape: { liveFiles: number; bulkFiles: number; fileSize: number },
): string[] {
  const { idle, change } = fits(runs);
  const last = runs.at(-1)!;
  const spread = runs.map((run) => {
    const times = run.change.spreadMs;
    return times.length
      ? `${run.machines}: p50 ${formatNumber(percentile(times, 50) / 1000)} s, max ${formatNumber(Math.max(...times) / 1000)} s`
      : `${run.machines}: none arrived`;
  });
  const crossCheck = runs.map(
    (run) =>
      `${run.machines}: agents ${count(run.agentTotal)} + seeding ${count(run.seeding)}, MinIO ${run.serverTotal === undefined ? "not read" : count(run.serverTotal)}`,
  );
  const heartbeats = runs.map(
    (run) => `${run.machines} agents: ${count(run.idle.operations.PutObject ?? 0)}`,
  );
  return [
    `Fleet cost: every machine runs \`fedsync run\` (default settings, its own state dir and trees) with a lightweight set (${shape.liveFiles} files seeded) and a heavyweight set (${shape.bulkFiles} files, interval 2 min), files of ${count(shape.fileSize)} B; machine 0 seeds the bucket with one \`fedsync sync\`, the others download at their start. Once every tree matches and every notification stream is open, and 10 s more, the idle window: ${idleSeconds} s with no change, scaled to an hour. The agents start together, so it holds about one heavyweight pass of each (heartbeats written in it, one per pass: ${heartbeats.join(", ")}), and not the lightweight safety pass (every 10 min, about 2 requests) or the hourly listing. Load average as each idle window opened: ${runs.map((run) => `${run.machines} agents: ${run.load}`).join("; ")}.`,
    `What counts as a request: every HTTP request an agent sends to the bucket, counted by its transport as it goes out and read from its metrics endpoint (\`fedsync_datastore_requests_total\`) at the edges of each window: listings, GET, HEAD, PUT, DELETE, heartbeats, retries; a notification stream counts once, when it is opened (ListenBucketNotification), not per event or keep-alive. Cross-check with MinIO's own count for each fleet's bucket (its Prometheus metrics), from the agents' start to their stop: ${crossCheck.join("; ")}.`,
    `Requests per change: ${last.change.changes} new files written on machine 0's lightweight set one at a time, each when the previous one had reached every machine; the window closes ${tailSeconds} s after the last (past the 30 s change-log read while notifications are healthy), and the idle rate over the same time is taken off. Time until every machine had a change: ${spread.join("; ")}. Requests in the change window of ${last.machines} agents, idle ones included: ${formatRequests(last.change.operations)} (the writer ${formatRequests(last.change.writerOperations)}; machine 1 ${formatRequests(last.change.receiverOperations)}); in the idle window: ${formatRequests(last.idle.operations)}.`,
    `Extrapolation (a straight line through the measured fleets, least squares, not measured): idle ${formatNumber(idle.intercept)} + ${formatNumber(idle.slope)}·N requests per hour, ${formatNumber(change.intercept)} + ${formatNumber(change.slope)}·N requests per change. The rclone reference is one \`rclone check\` of each set of a machine against the bucket (${formatRequests(rclone.requests)}: ${rclone.total} requests, counted from \`--dump headers\`) times ${CHECKS_PER_HOUR} per hour times the machines: what the same trees would cost checked by a cron job every minute, before any transfer; it sees a change up to a minute late where fedsync's notifications bring it within a second.`,
  ];
}

export function fleetReport(
  runs: FleetRun[],
  rclone: RcloneRound,
  idleSeconds: number,
  tailSeconds: number,
  shape: { liveFiles: number; bulkFiles: number; fileSize: number },
): ScenarioResult {
  return {
    rows: [
      ...runs.flatMap((run) => [idleRow(run, rclone), changeRow(run)]),
      linearityRow(runs),
      ...extrapolatedRows(runs, rclone),
    ],
    notes: notes(runs, rclone, idleSeconds, tailSeconds, shape),
  };
}
