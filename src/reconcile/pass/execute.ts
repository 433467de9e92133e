import pLimit, { type LimitFunction } from "p-limit";
import type { PassItem } from "../item.js";
import type { Action } from "../planner.js";
import type { Joined } from "../sources.js";
import type { PassRun } from "./context.js";
import type { Evaluation } from "./evaluate.js";
import type { Sources } from "./join.js";
import type { PassRecorder } from "./record.js";

/** What the pass holds back for its end: deletions behind the guard, and actions blocked by a type change. */
export interface Executed {
  localDeletes: PassItem[];
  remoteDeletes: PassItem[];
  blocked: [PassItem, Action][];
  /** A dry run's deletions, for the guard the real pass would meet. */
  plannedDeletes: { local: number; remote: number };
  expiredTombstones: string[];
  /** Keys the journal and the bucket had, to tell an empty bucket from an empty set. */
  rowsSeen: number;
  remoteSeen: number;
  /** The pass's bound on concurrent actions, for the deletions at the end too. */
  limit: LimitFunction;
}

/**
 * Reads the join to its end: each key is evaluated, and acted on with bounded concurrency, with backpressure
 * on the join. Most keys agree on every side and need no hashing: they are settled in order, without a task
 * of their own.
 */
export async function execute(
  run: PassRun,
  sources: Sources,
  evaluation: Evaluation,
  record: PassRecorder,
): Promise<Executed> {
  const { executor } = run;
  const { config } = run.deps;
  const limit = pLimit(config.concurrency);
  const running = new Set<Promise<void>>();
  const executed: Executed = {
    localDeletes: [],
    remoteDeletes: [],
    blocked: [],
    plannedDeletes: { local: 0, remote: 0 },
    expiredTombstones: [],
    rowsSeen: 0,
    remoteSeen: 0,
    limit,
  };
  let seen = 0;
  const report = () => run.options.onProgress?.({ checked: seen, counts: executor.counts });

  const act = async (join: Joined, item: PassItem, settled?: Action) => {
    if (executor.outage || run.interrupted()) return;
    const action = settled ?? (await evaluation.hashAndPlan(item));
    if (action.kind === "none") return record.agreed(join);
    if (run.dryRun) {
      record.planned(item, action);
      if (action.kind === "delete-local") executed.plannedDeletes.local++;
      if (action.kind === "delete-remote") executed.plannedDeletes.remote++;
      return;
    }
    if (action.kind === "delete-local") executed.localDeletes.push(item);
    else if (action.kind === "delete-remote") executed.remoteDeletes.push(item);
    else if ((await executor.run(item, action)) === "blocked") executed.blocked.push([item, action]);
    if (action.kind !== "record" && action.kind !== "forget") report();
    await record.publishWhenDue();
  };

  for await (const join of sources.joined) {
    if (executor.outage || run.interrupted()) break;
    seen++;
    if (seen % 1000 === 0) report();
    if (join.row) executed.rowsSeen++;
    if (join.remote) executed.remoteSeen++;
    if (join.local?.problem) {
      record.scanProblem(join.local.problem);
      sources.unknown.add(join.local.problem);
      continue;
    }
    if (sources.unknown.covers(join.key)) continue;
    if (join.local?.entry) sources.mountFinder?.see(join.local.entry);
    const { item, expiredTombstone } = evaluation.item(join);
    if (expiredTombstone) executed.expiredTombstones.push(expiredTombstone);
    const settled = evaluation.settle(item);
    if (settled?.kind === "none") {
      record.agreed(join);
      continue;
    }
    const promise = limit(() => act(join, item, settled)).catch((error: unknown) => {
      executor.counts.failed++;
      run.logger.error(`${item.key}: ${error instanceof Error ? error.message : String(error)}`, {
        path: item.key,
      });
    });
    running.add(promise);
    void promise.finally(() => running.delete(promise));
    if (limit.pendingCount > config.concurrency * 4) await Promise.race(running);
  }
  await Promise.all(running);
  return executed;
}
