import pLimit, { type LimitFunction } from "p-limit";
import { logOnce } from "../../log/index.js";
import type { PassItem } from "../item.js";
import type { Action } from "../planner.js";
import { RefusedError } from "../localfs.js";
import type { ObjectInfo } from "../../datastore/types.js";
import type { ExpiredTombstone } from "../housekeeping.js";
import type { RecordedChange } from "../changelog.js";
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
  /** Deletion marks to expire at the end, by the key they mark. */
  expiredTombstones: Map<string, ExpiredTombstone>;
  /** Objects that came back after their deletion (see `undoneDeletion`), by key: deleted again at the end. */
  undeleted: Map<string, ObjectInfo>;
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
    expiredTombstones: new Map(),
    undeleted: new Map(),
    rowsSeen: 0,
    remoteSeen: 0,
    limit,
  };
  let seen = 0;
  const evaluate = (join: Joined): PassItem => {
    const { item, expiredTombstone, undeleted } = evaluation.item(join);
    if (expiredTombstone) executed.expiredTombstones.set(join.key, expiredTombstone);
    if (undeleted) executed.undeleted.set(undeleted.key, undeleted);
    return item;
  };
  const report = () => run.options.onProgress?.({ checked: seen, counts: executor.counts });

  /** Plans a key again from its sides looked up directly; a key planned again is not planned a third time. */
  const replan = async (key: string, expected?: RecordedChange) => {
    const join = await sources.lookUp(key);
    if (expected) awaitUnlessShown(join, expected);
    if (join.local?.problem) return record.scanProblem(join.local.problem);
    if (join.local || join.row || join.remote || join.tombstone) {
      await act(join, evaluate(join), undefined, true);
    }
  };

  const act = async (join: Joined, item: PassItem, settled?: Action, replanned = false): Promise<void> => {
    if (executor.outage || run.interrupted()) return;
    const action = settled ?? (await evaluation.hashAndPlan(item));
    if (!replanned && deletionOnlyListed(run, item, action)) return replan(item.key);
    if (action.kind === "delete-local" && goneWithoutMark(item) && !confirmedGone(item)) return;
    if (action.kind === "none") return record.agreed(join);
    if (run.dryRun) {
      record.planned(item, action);
      if (action.kind === "delete-local") executed.plannedDeletes.local++;
      if (action.kind === "delete-remote") executed.plannedDeletes.remote++;
      return;
    }
    if (action.kind === "delete-local") executed.localDeletes.push(item);
    else if (action.kind === "delete-remote") executed.remoteDeletes.push(item);
    else {
      const outcome = await executor.run(item, action);
      if (outcome === "blocked") executed.blocked.push([item, action]);
      // The object is not the one planned from (or a write whose answer was lost did land): planned again
      // from what the bucket holds now, not left to the next pass, which may be a safety pass hours away.
      if (outcome === "lost-race" && !replanned) return replan(item.key);
      if (outcome === "lost-race") executor.lostRace(item.key, action.kind);
    }
    if (action.kind !== "record" && action.kind !== "forget") report();
    await record.publishWhenDue();
  };

  /**
   * Whether an object gone without a deletion mark has been found gone for long enough to delete its file
   * here: a distributed MinIO node just restarted answered HEAD with 404 for objects written while it was
   * down, for a moment. Fedsync writers always leave a deletion mark; only other S3 clients (and a machine
   * that died between a deletion and its mark) do not.
   */
  const confirmedGone = (item: PassItem): boolean => {
    const { journal, set, config } = run.deps;
    const delayMs = config.unmarkedDeletionDelayMs;
    if (delayMs === 0) return true;
    // A dry run notes nothing: it shows what a pass run now would do.
    const firstSeen = run.dryRun
      ? (journal.missingSince(set.name, item.key) ?? run.started)
      : journal.noteMissing(set.name, item.key, run.started);
    if (run.started - firstSeen >= delayMs) return true;
    logOnce(
      run.logger,
      `missing:${set.name}:${item.key}`,
      "info",
      `${item.key}: its object is gone from the bucket without a deletion mark; the file is deleted here if a pass still finds it gone ${delayMs / 1000} s from now (unmarked_deletion_delay)`,
      { path: item.key },
    );
    executor.counts.skipped++;
    run.awaitingDeletion.push(item.key);
    return false;
  };

  /**
   * A change another writer recorded that not even a direct look-up shows (a node back from a failure can
   * miss objects written while it was down) is looked for again by the next full passes (sources.ts).
   */
  const awaitUnlessShown = (join: Joined, change: RecordedChange) => {
    const { journal, set } = run.deps;
    if (run.dryRun) return;
    if (bucketShows(join, change)) journal.forgetAwaited(set.name, change.path);
    else {
      journal.awaitChange(set.name, change, run.started);
      run.awaitedChanges.push(change.path);
    }
  };

  const spawn = async (key: string, task: () => Promise<void>) => {
    const promise = limit(task).catch((error: unknown) => {
      executor.counts.failed++;
      // A file that changed under the pass is taken up again (its event, the next pass): no error.
      const level = error instanceof RefusedError ? "warn" : "error";
      run.logger[level](`${key}: ${error instanceof Error ? error.message : String(error)}`, { path: key });
    });
    running.add(promise);
    void promise.finally(() => running.delete(promise));
    if (limit.pendingCount > config.concurrency * 4) await Promise.race(running);
  };

  for await (const join of sources.joined) {
    if (executor.outage || run.interrupted()) break;
    seen++;
    if (seen % 1000 === 0) report();
    if (join.row) executed.rowsSeen++;
    if (join.remote) executed.remoteSeen++;
    const recorded = sources.recorded.get(join.key);
    if (recorded) sources.recorded.delete(join.key);
    if (join.local?.problem) {
      record.scanProblem(join.local.problem);
      sources.unknown.add(join.local.problem);
      continue;
    }
    if (sources.unknown.covers(join.key)) continue;
    if (join.local?.entry) sources.mountFinder?.see(join.local.entry);
    if (recorded && !bucketShows(join, recorded)) {
      await spawn(join.key, () => replan(join.key, recorded));
      continue;
    }
    if (recorded && sources.awaited.has(join.key)) awaitUnlessShown(join, recorded);
    const item = evaluate(join);
    const settled = evaluation.settle(item);
    if (settled?.kind === "none") {
      record.agreed(join);
      continue;
    }
    await spawn(item.key, () => act(join, item, settled));
  }
  // Paths another writer's record says it wrote, which the listing left out altogether.
  for (const [key, change] of sources.recorded) {
    if (executor.outage || run.interrupted()) break;
    if (sources.unknown.covers(key)) continue;
    if (change.op === "put") await spawn(key, () => replan(key, change));
    else if (sources.awaited.has(key)) awaitUnlessShown({ key }, change);
  }
  await Promise.all(running);
  return executed;
}

/**
 * A deletion that only the listing says happened (no deletion mark): a listing of a distributed MinIO can
 * leave out an object while a write or a heal is under way, and MinIO leaves `d/x` out of listings while an
 * object `d` exists. The key is looked up directly before anything is deleted or forgotten.
 */
function deletionOnlyListed(run: PassRun, item: PassItem, action: Action): boolean {
  return (
    run.scope.kind !== "keys" &&
    (action.kind === "delete-local" || action.kind === "forget") &&
    goneWithoutMark(item)
  );
}

/** A key whose object is gone with no deletion mark, while its file is here and the journal knew the object. */
function goneWithoutMark(item: PassItem): boolean {
  return !item.remote && !item.tombstone && !!item.row?.remoteEtag;
}

/** Whether the listing shows what another writer's change-log record says the bucket holds at the key. */
function bucketShows(join: Joined, change: RecordedChange): boolean {
  // An object still there beside its deletion mark: which came last is the evaluation's to judge.
  if (change.op === "delete") return join.remote === undefined || join.tombstone !== undefined;
  return join.remote !== undefined && (change.etag === undefined || join.remote.info.etag === change.etag);
}
