import { logOnce } from "../../log/index.js";
import { chooseBucketView } from "../bucket-view.js";
import { readRecordedChanges, type RecordedChange } from "../changelog.js";
import { IgnoredRows } from "../ignore-rules.js";
import { removeStaleTemp } from "../temp-files.js";
import { checkMounts, MountFinder, type MountCheck } from "../mounts.js";
import { joinKeys, joinTree, lookUpKey, UnknownSubtrees, type Joined } from "../sources.js";
import type { PassRun } from "./context.js";
import type { Opened } from "./open.js";
import type { PassRecorder } from "./record.js";

/** How long full passes look again for another writer's recorded change that the bucket does not show. */
const AWAITED_CHANGE_MS = 15 * 60_000;

/** The joined sides of the pass's keys, and what the join looks after beside them. */
export interface Sources {
  joined: AsyncIterable<Joined>;
  /** Subtrees the pass cannot look at (an unreadable directory, a sub-mount not mounted): nothing in them syncs. */
  unknown: UnknownSubtrees;
  mounts: MountCheck;
  /** Finds the mount points under the root, in a full pass. */
  mountFinder?: MountFinder;
  /** The change-log records the bucket view already covers: applied once the pass ends well. */
  coveredRecords: { key: string; size: number }[];
  /**
   * What those records say each path they name now holds in the bucket, for the listing to be checked
   * against: a listing of a distributed MinIO can leave out an object, or show an older version of it.
   */
  recorded: Map<string, RecordedChange>;
  /** Paths among those whose recorded change earlier passes did not find in the bucket (awaitRecorded). */
  awaited: Set<string>;
  /** One key's sides looked up directly (a HEAD, not a listing), for a key the pass must plan again. */
  lookUp(key: string): Promise<Joined>;
  /** Once the join is read to its end: the rows of ignored paths forgotten, the stale temp files removed. */
  settle(): Promise<void>;
}

/** Merge-joins the local scan, the journal and the bucket (a listing, or the journal's view of it). */
export async function joinSources(run: PassRun, opened: Opened, record: PassRecorder): Promise<Sources> {
  const { set, journal, datastore } = run.deps;
  const { logger, scope, full } = run;
  const sourceDeps = { set, journal, datastore, logger, ignored: opened.ignored };
  // Temp files met by a full pass are left by an interrupted run (a crash, a kill): remove them.
  const tempRemovals: Promise<boolean>[] = [];
  const onTempFile =
    full && !run.dryRun
      ? (key: string) => {
          tempRemovals.push(
            removeStaleTemp(set.path, key).catch((error: unknown) => {
              logger.warn(`cannot remove stale temp file ${key}: ${(error as Error).message}`, { path: key });
              return false;
            }),
          );
        }
      : undefined;
  const ignoredRows = run.dryRun ? undefined : new IgnoredRows(journal, set.name);
  let coveredRecords: { key: string; size: number }[] = [];
  let recorded = new Map<string, RecordedChange>();
  let awaited = new Set<string>();
  if (full) {
    const choice = await chooseBucketView(run.deps, run.state, opened.journalCount, {
      fullListing: run.options.fullListing,
      catchUp: run.catchUp,
      now: run.started,
      ignoreRules: opened.rulesDigest,
    });
    run.bucket = choice.view;
    coveredRecords = choice.covered;
    if (run.bucket === "listing") {
      recorded = await readRecordedChanges(datastore, coveredRecords);
      awaited = awaitRecorded(run, recorded);
    }
  } else if (scope.kind === "keys") {
    recorded = new Map(scope.recorded?.map((change) => [change.path, change]));
    awaited = awaitRecorded(run, recorded, new Set(scope.keys));
    if (run.bucket === "journal")
      logger.debug("no other writer since the last listing: the bucket is not listed");
  }
  const joined =
    scope.kind === "keys"
      ? joinKeys(sourceDeps, scope.keys)
      : joinTree(
          sourceDeps,
          scope.kind === "subtree" ? scope.dirKey : "",
          {
            onTempFile,
            onIgnoredRow: ignoredRows && ((key) => ignoredRows.add(key)),
          },
          run.bucket,
        );
  const unknown = new UnknownSubtrees();
  const mounts = await checkMounts(opened.rootDeps, { accept: opened.acceptNewRoot, dryRun: run.dryRun });
  for (const key of mounts.unmounted) {
    unknown.addDirectory(key);
    record.problem(key, mounts.detail);
    logOnce(logger, `unmounted:${set.name}:${key}`, "warn", `${key}: ${mounts.detail}`, { path: key });
  }
  const mountFinder = full && opened.root ? new MountFinder(opened.root.dev) : undefined;
  const settle = async () => {
    ignoredRows?.flush();
    if (ignoredRows?.count) {
      logger.info(
        `${ignoredRows.count} ignored path(s) left out of the sync; their files and objects stay as they are`,
      );
    }
    const staleTemps = (await Promise.all(tempRemovals)).filter(Boolean).length;
    if (staleTemps > 0) logger.info(`removed ${staleTemps} stale temp file(s) left by an interrupted run`);
  };
  return {
    joined,
    unknown,
    mounts,
    mountFinder,
    coveredRecords,
    recorded,
    awaited,
    lookUp: async (key) => (opened.ignored(key) ? { key } : lookUpKey(sourceDeps, key)),
    settle,
  };
}

/**
 * Adds the changes earlier passes are still waiting to see in the bucket to those the records name (a newer
 * record of the path takes over), and gives up on those waited for AWAITED_CHANGE_MS: the listings of the
 * full passes to come find whatever the bucket shows by then.
 */
function awaitRecorded(
  run: PassRun,
  recorded: Map<string, RecordedChange>,
  keys?: ReadonlySet<string>,
): Set<string> {
  const { journal, set } = run.deps;
  const paths = new Set<string>();
  for (const { firstSeen, ...change } of journal.awaitedChanges(set.name)) {
    if (keys && !keys.has(change.path)) continue;
    if (run.started - firstSeen >= AWAITED_CHANGE_MS) {
      if (!run.dryRun) journal.forgetAwaited(set.name, change.path);
      run.logger.warn(
        `${change.path}: another machine recorded a ${change.op === "put" ? "write" : "deletion"} of it ${Math.round((run.started - firstSeen) / 60_000)} min ago that the bucket still does not show; no longer looked for`,
        { path: change.path },
      );
      continue;
    }
    paths.add(change.path);
    if (!recorded.has(change.path)) recorded.set(change.path, change);
  }
  return paths;
}
