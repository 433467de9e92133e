import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Fleet } from "./fleet.js";
import { addCounts, countsSince, sumCounts, type Counts } from "./prometheus.js";

/** How long one change may take to reach every machine before it counts as lost. */
const CHANGE_TIMEOUT_MS = 30_000;
/** The rest after a change has reached every machine, before the next is written. */
const CHANGE_PAUSE_MS = 200;

export interface IdleCost {
  seconds: number;
  /** Each machine's requests in the window, scaled to an hour. */
  perMachinePerHour: number[];
  fleetPerHour: number;
  operations: Counts;
}

export interface ChangeCost {
  changes: number;
  lost: number;
  seconds: number;
  /** All agents' requests per change, the idle rate over the window taken off. */
  perChange: number;
  /** The writing machine's share of it, and each receiving machine's. */
  writer: number;
  perReceiver: number;
  /** The window's requests as counted, idle ones included: all agents', the writer's, machine 1's. */
  operations: Counts;
  writerOperations: Counts;
  receiverOperations: Counts;
  /** Milliseconds from each write until every machine had the bytes. */
  spreadMs: number[];
}

function deltas(after: Counts[], before: Counts[]): Counts[] {
  return after.map((counts, index) => countsSince(counts, before[index]!));
}

function merged(all: Counts[]): Counts {
  return all.reduce((into, counts) => addCounts(into, counts), {});
}

/** Every agent's requests over `windowMs` with nothing changing, from their own counters. */
export async function measureIdle(fleet: Fleet, windowMs: number): Promise<IdleCost> {
  const before = await fleet.requestCounts();
  const opened = Date.now();
  await sleep(windowMs);
  fleet.checkRunning();
  const after = await fleet.requestCounts();
  const closed = Date.now();
  const perMachine = deltas(after, before);
  const perHour = (count: number) => (count / (closed - opened)) * 3_600_000;
  const perMachinePerHour = perMachine.map((counts) => perHour(sumCounts(counts)));
  return {
    seconds: (closed - opened) / 1000,
    perMachinePerHour,
    fleetPerHour: perMachinePerHour.reduce((sum, rate) => sum + rate, 0),
    operations: merged(perMachine),
  };
}

/**
 * `count` new files written on machine 0's lightweight set one at a time, each after the previous one reached
 * every machine; the window closes `tailMs` after the last. The requests of all agents in it, less what the
 * idle rate (`idlePerMachinePerHour`) would have made in the same time, divided by `count`.
 */
export async function measureChanges(
  fleet: Fleet,
  count: number,
  tailMs: number,
  idlePerMachinePerHour: number,
): Promise<ChangeCost> {
  const writer = fleet.members[0]!;
  const before = await fleet.requestCounts();
  const opened = performance.now();
  const spreadMs: number[] = [];
  let lost = 0;
  for (let index = 0; index < count; index++) {
    const path = `change-${index}.txt`;
    const content = Buffer.from(`change ${index} at ${Date.now()}\n`);
    const started = performance.now();
    writeFileSync(join(writer.roots.live, path), content);
    if (await fleet.waitForEverywhere(path, content, CHANGE_TIMEOUT_MS))
      spreadMs.push(performance.now() - started);
    else lost++;
    await sleep(CHANGE_PAUSE_MS);
  }
  await sleep(tailMs);
  fleet.checkRunning();
  const after = await fleet.requestCounts();
  const elapsedMs = performance.now() - opened;
  const perMachine = deltas(after, before);
  const idleShare = (idlePerMachinePerHour * elapsedMs) / 3_600_000;
  const [mine, ...theirs] = perMachine.map((counts) => sumCounts(counts) - idleShare);
  const writerCost = mine! / count;
  const perReceiver = theirs.reduce((sum, value) => sum + value, 0) / theirs.length / count;
  return {
    changes: count,
    lost,
    seconds: elapsedMs / 1000,
    perChange: writerCost + perReceiver * theirs.length,
    writer: writerCost,
    perReceiver,
    operations: merged(perMachine),
    writerOperations: perMachine[0]!,
    receiverOperations: perMachine[1]!,
    spreadMs,
  };
}
