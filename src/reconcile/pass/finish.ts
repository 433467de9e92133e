import { pruneHistoryAndTrash } from "../../history/prune.js";
import type { ObjectInfo } from "../../datastore/types.js";
import { isDirKey } from "../../scan/entry.js";
import { deletionGuard, GuardError, massDeleteHint } from "../guards.js";
import { writeHeartbeat } from "../heartbeat.js";
import { housekeep } from "../housekeeping.js";
import { mountsRecord } from "../mounts.js";
import { recheckRoot } from "../root.js";
import type { PassRun } from "./context.js";
import type { Executed } from "./execute.js";
import type { Sources } from "./join.js";
import type { Opened } from "./open.js";
import type { PassRecorder } from "./record.js";
import type { PassResult } from "./types.js";

/**
 * The end of a pass whose join was read: the guards, then the deletions and the blocked actions, then the
 * change log, the set's state, housekeeping and the heartbeat.
 */
export async function finishPass(
  run: PassRun,
  opened: Opened,
  sources: Sources,
  executed: Executed,
  record: PassRecorder,
): Promise<PassResult> {
  const { executor } = run;
  // Every further request would wait out its retries: stop, leaving the rest (and all deletions) to the
  // next pass. The caller sees the datastore error: `fedsync sync` exits 1, the agent backs off and retries.
  if (executor.outage) throw run.outage(executor.outage);
  if (run.interrupted()) return stop(run, record);
  const tripped = await guard(run, opened, executed);
  if (tripped) return tripped;
  if (run.dryRun) return run.result();

  await deleteAndRetry(run, executed);
  if (executor.outage) throw run.outage(executor.outage);
  if (run.interrupted()) return stop(run, record);

  await record.publish();
  await closePass(run, opened, sources, executed);
  return run.result(undefined, record.changeLogKey);
}

/** What went out before a stop is announced, so lightweight peers need not wait for a full pass. */
async function stop(run: PassRun, record: PassRecorder): Promise<PassResult> {
  if (!run.dryRun) await record.publishSoFar();
  return run.result(undefined, record.changeLogKey);
}

/** The guards before any deletion: the root, an emptied bucket, too many deletions. A trip's result, if any. */
async function guard(run: PassRun, opened: Opened, executed: Executed): Promise<PassResult | undefined> {
  const { set, config } = run.deps;
  const { options } = run;
  if (opened.root) {
    try {
      await recheckRoot(opened.rootDeps, opened.root, opened.journalCount);
    } catch (error) {
      if (error instanceof GuardError) return run.trip(error.message);
      throw error;
    }
  }
  const { rowsSeen, remoteSeen } = executed;
  // Rows of ignored paths are not counted: rules that ignore everything leave nothing to list.
  if (run.full && run.bucket === "listing" && rowsSeen > 0 && remoteSeen === 0 && !options.allowMassDelete) {
    return run.trip(
      `the bucket holds nothing under ${set.prefix} but the journal knows ${rowsSeen} entries; nothing deleted (${massDeleteHint(set, config.stateDir)})`,
    );
  }
  // A dry run meets the guard the real pass would meet, so the plan does not promise what the pass would refuse.
  const deletions = run.dryRun
    ? executed.plannedDeletes
    : { local: executed.localDeletes.length, remote: executed.remoteDeletes.length };
  const tripped = deletionGuard(
    set,
    config.stateDir,
    opened.journalCount,
    deletions.local,
    deletions.remote,
    options.recentDeletions,
  );
  return tripped && !options.allowMassDelete ? run.trip(tripped) : undefined;
}

/** Remote deletions, then local files, then local directories deepest first, then the blocked actions. */
async function deleteAndRetry(run: PassRun, executed: Executed): Promise<void> {
  const { executor } = run;
  const { localDeletes, remoteDeletes, blocked, limit } = executed;
  await Promise.all(
    remoteDeletes.map((item) =>
      limit(async () => {
        if (!executor.outage && !run.interrupted()) await executor.run(item, { kind: "delete-remote" });
      }),
    ),
  );
  if (executor.outage) throw run.outage(executor.outage);
  await deleteAgain(run, executed.undeleted);
  for (const item of localDeletes.filter((i) => !isDirKey(i.key))) {
    if (!run.interrupted()) await executor.runFinal(item, { kind: "delete-local" });
  }
  for (const item of localDeletes.filter((i) => isDirKey(i.key)).reverse()) {
    if (!run.interrupted()) await executor.runFinal(item, { kind: "delete-local" });
  }
  for (const [item, action] of blocked) if (!run.interrupted()) await executor.runFinal(item, action);
}

/** Objects that came back after their deletion are deleted again, each only while it is the version seen. */
async function deleteAgain(run: PassRun, undeleted: Map<string, ObjectInfo>): Promise<void> {
  const { datastore } = run.deps;
  for (const info of undeleted.values()) {
    if (run.interrupted()) return;
    try {
      await datastore.deleteIfCurrent(info.key, info);
      run.logger.warn(
        `${info.key} came back after its deletion (older than its deletion mark: a cluster healing?); deleted again`,
        { key: info.key },
      );
    } catch (error) {
      run.logger.warn(`cannot delete ${info.key} again: ${(error as Error).message}`, { key: info.key });
    }
  }
}

/** The set's state after a pass that ran to its end; a full pass's housekeeping and heartbeat. */
async function closePass(run: PassRun, opened: Opened, sources: Sources, executed: Executed): Promise<void> {
  const { set, journal } = run.deps;
  const { full, bucket, started, logger } = run;
  const { root } = opened;
  const { mountFinder, mounts, unknown } = sources;
  const finished = run.now();
  const failed = run.executor.counts.failed;
  journal.updateSetState(set.name, {
    ...(full
      ? {
          lastFullPass: finished,
          // Also the change log's cursor for the next pass's choice of bucket view (bucket-view.ts).
          ...(bucket === "listing" && {
            lastFullPassStarted: started,
            listedIgnoreRules: opened.rulesDigest,
          }),
          lastGoodSync: finished,
          lastPassMs: finished - started,
          // Every object written before the pass began was seen (a listing, or a journal no record contradicts).
          ...(failed === 0 && { appliedThrough: Math.max(started, run.state.appliedThrough ?? 0) }),
        }
      : {}),
    ...(mountFinder && root
      ? {
          rootDev: String(root.dev),
          rootIno: String(root.ino),
          // Mount points seen, and those this pass could not look at (not mounted, or under an unreadable directory).
          mounts: mountsRecord([
            ...mountFinder.found,
            ...mounts.recorded.filter((key) => unknown.covers(key)),
          ]),
        }
      : {}),
    lastError: failed > 0 ? `${failed} action(s) failed; retrying next pass` : null,
  });
  if (full) {
    if (failed === 0 && run.problems.count === 0) {
      journal.transaction(() => {
        for (const record of sources.coveredRecords) journal.markLogApplied(set.name, record.key);
      });
    }
    if (bucket === "listing") {
      // Objects found gone earlier that this pass did not find gone again came back (or their file went).
      journal.pruneMissing(set.name, started);
      // A key this pass deleted has a new mark under the same name.
      for (const item of executed.remoteDeletes) executed.expiredTombstones.delete(item.key);
      await housekeep(run.deps, [...executed.expiredTombstones.values()], finished, logger);
    }
    await pruneHistoryAndTrash({ ...run.deps, logger }, finished);
    const counts =
      journal.fileWrites === opened.fileWritesAtStart ? opened.countsAtStart : journal.countByType(set.name);
    await writeHeartbeat(run.deps, finished, counts);
  }
}
