import pLimit from "p-limit";
import type { Config, SetConfig } from "../config/types.js";
import { decodeEntryMeta, decodeTombstoneMeta } from "../datastore/metadata.js";
import type { Datastore, ObjectInfo } from "../datastore/types.js";
import type { AuditEntry } from "../history/audit.js";
import { pruneHistoryAndTrash } from "../history/prune.js";
import type { Journal } from "../journal/journal.js";
import { totalEntries, type FileRow, type SetState } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { isDirKey, type LocalEntry, type ScanProblem } from "../scan/entry.js";
import { hashTreeFile } from "../scan/hash.js";
import { unchangedSinceBase } from "./unchanged.js";
import type { PassCounts } from "./counts.js";
import { Executor } from "./executor.js";
import { deletionGuard, GuardError, massDeleteHint, type RecentDeletions } from "./guards.js";
import { CHANGE_LOG_BATCH, housekeep, publishChanges, writeHeartbeat } from "./housekeeping.js";
import { IgnoredRows, loadSetIgnore, type SetIgnore } from "./ignore-rules.js";
import { heartbeatKey } from "../datastore/layout.js";
import { baseOf, type PassItem } from "./item.js";
import { removeStaleTemp } from "./localfs.js";
import { checkMounts, MountFinder, mountsRecord } from "./mounts.js";
import { OwnerNames } from "./owners.js";
import { plan, type Action } from "./planner.js";
import { checkRoot, recheckRoot, RootMissingError, takeAcceptFlag } from "./root.js";
import { chooseBucketView, digestRules } from "./bucket-view.js";
import { takeFlag } from "./flags.js";
import {
  joinKeys,
  joinTree,
  UnknownSubtrees,
  type BucketView,
  type Joined,
  type PassScope,
} from "./sources.js";
import { localStateOf, type LocalState, type RemoteState, type TombstoneState } from "./state.js";

export type { PassScope } from "./sources.js";
export { GUARD_MIN_DELETIONS, type RecentDeletions } from "./guards.js";

export interface PassDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  datastore: Datastore;
  logger: Logger;
  owners?: OwnerNames;
  now?: () => number;
}

export interface PassOptions {
  scope?: PassScope;
  dryRun?: boolean;
  allowMassDelete?: boolean;
  /**
   * Take the set root as it is now, after it changed identity (another directory, an unmount), and the
   * sub-mounts that are no longer mounted as gone for good. Also asked for by the flag file (root.ts).
   */
  acceptNewRoot?: boolean;
  /** Called as the pass goes: after every 1,000 entries checked and after every change. */
  onProgress?: (progress: PassProgress) => void;
  /** Once aborted, the pass starts no new work: what is in flight finishes, deletions and the rest wait. */
  signal?: AbortSignal;
  /** List the bucket even when the change log shows no other writer since the last listing. */
  fullListing?: boolean;
  /** The set's ignore rules, when the caller has loaded them (see loadSetIgnore); else the pass loads them. */
  ignore?: SetIgnore;
  /**
   * Deletions made by earlier passes since the last full pass that ran to its end. The guard counts them with
   * this pass's own, so a tree emptied a few files at a time (the watcher reports an `rm -rf` in batches)
   * trips it just as a tree emptied at once does.
   */
  recentDeletions?: RecentDeletions;
  /** Told every change the pass applies or publishes, as the audit trail records it. */
  onApplied?: (entry: AuditEntry) => void;
}

export interface PlannedAction {
  key: string;
  action: Action["kind"];
  detail?: string;
}

export interface PassProgress {
  /** Entries looked at so far. */
  checked: number;
  /** The pass's counts, live: they keep changing after the call. */
  counts: PassCounts;
}

/** `12000 checked, 3 up, 0 down`. */
export function describeProgress(progress: PassProgress): string {
  return `${progress.checked} checked, ${progress.counts.uploaded} up, ${progress.counts.downloaded} down`;
}

export interface PassResult {
  set: string;
  ok: boolean;
  /** Why the pass stopped (a guard); undefined when it ran to the end. */
  error?: string;
  guardTripped: boolean;
  catchUp: boolean;
  counts: PassCounts;
  /** Local files read to hash them (0 in an unchanged pass: skip-by-stat). */
  hashed: number;
  durationMs: number;
  /** The plan, for --dry-run. */
  planned: PlannedAction[];
  /** The change-log record written for this pass's outgoing changes, if any. */
  changeLogKey?: string;
  /** Entries the pass could not sync (skipped, logged once each), and the last of them. */
  problems: PassProblems;
  /** Stopped early by the abort signal: nothing deleted, the rest left for the next pass. */
  interrupted: boolean;
  /** Where the bucket's side came from: a listing, or (a full pass with no other writer since) the journal. */
  bucket: BucketView;
}

export interface PassProblems {
  count: number;
  /** `<key>: <why>` */
  last?: string;
}

/**
 * A journal that has never seen the set, while the bucket holds this machine's heartbeat for it, was lost or
 * replaced: syncing from it would treat every path as new on both sides. Stop and point at the rebuild.
 */
async function checkJournalKnowsSet(deps: PassDeps, journalCount: number, state: SetState): Promise<void> {
  if (journalCount > 0 || state.lastGoodSync !== null || state.lastFullPass !== null) return;
  const { set, config, journal } = deps;
  const heartbeat = await deps.datastore.stat(heartbeatKey(set.name, config.machine));
  if (!heartbeat) return;
  throw new GuardError(
    `the journal ${journal.file} knows nothing of set ${set.name}, but the bucket shows ${config.machine} synced it on ${heartbeat.lastModified.toISOString()}: the journal was lost or replaced; nothing synced (stop the agent and run \`fedsync rebuild-journal\`)`,
  );
}

/** The bucket side of one key as the planner sees it; the key's trailing `/` alone says what is a directory. */
export function remoteState(key: string, info: ObjectInfo, logger: Logger): RemoteState {
  const decoded = decodeEntryMeta(info.metadata);
  const shape = isDirKey(key) ? "dir" : "file";
  const typeFits = !decoded?.meta || (decoded.meta.type === "dir") === (shape === "dir");
  const invalid = [...(decoded?.invalid ?? []), ...(typeFits ? [] : ["fedsync-type"])];
  if (invalid.length) {
    logOnce(logger, `meta:${info.key}:${info.etag}`, "warn", `ignoring invalid metadata on ${info.key}`, {
      fields: invalid.join(","),
    });
  }
  const meta = typeFits ? decoded?.meta : undefined;
  return {
    type: meta?.type ?? shape,
    etag: info.etag,
    size: info.size,
    lastModified: info.lastModified.getTime(),
    sha256: meta?.sha256,
    mtimeMs: meta?.mtimeMs,
    mode: meta?.mode,
    owner: meta?.owner,
    group: meta?.group,
    origin: meta?.origin,
    target: meta?.target,
  };
}

/**
 * The bucket side of a key whose object is still the version its journal row agreed with (same ETag and
 * Last-Modified, see Listed.current): the metadata it was written with is what the row recorded.
 */
function agreedRemoteState(row: FileRow, info: ObjectInfo): RemoteState {
  const symlink = row.type === "symlink";
  return {
    type: row.type,
    etag: info.etag,
    size: info.size,
    lastModified: info.lastModified.getTime(),
    sha256: row.sha256 ?? undefined,
    mtimeMs: symlink ? undefined : row.mtimeMs,
    mode: symlink ? undefined : row.mode,
    owner: row.owner ?? undefined,
    group: row.group ?? undefined,
    target: row.target ?? undefined,
  };
}

/** A local file up to this size that has to be hashed is read whole, and an upload reuses the bytes. */
const KEEP_CONTENT_BYTES = 1024 * 1024;

/** Rows whose object's own Last-Modified is learnt in one journal transaction. */
const LEARN_BATCH = 1000;

/**
 * The deletion mark of `key` as the planner sees it. `stale` when this machine has met it before: it applied
 * it (or a deletion of the key as recent), or its last full pass began after the mark was written (clock skew
 * allowed for): a file here now was created after that, and the mark must not delete it.
 */
function tombstoneState(
  deps: PassDeps,
  key: string,
  info: ObjectInfo,
  state: SetState,
  createdHere: boolean,
): TombstoneState {
  const meta = decodeTombstoneMeta(info.metadata);
  const type = info.metadata?.["fedsync-type"];
  const written = info.lastModified.getTime();
  const skew = deps.config.clockSkewMs;
  const applied = createdHere ? deps.journal.appliedTombstone(deps.set.name, key) : undefined;
  const passedOver = state.lastFullPassStarted !== null && written < state.lastFullPassStarted - skew;
  return {
    type: type === "file" || type === "symlink" || type === "dir" ? type : isDirKey(key) ? "dir" : "file",
    deletedAt: meta?.deletedAt ?? written,
    deletedBy: meta?.deletedBy,
    sha256: meta?.sha256,
    stale: createdHere && (passedOver || (applied !== undefined && written <= applied + skew)),
  };
}

function describe(action: Action): string | undefined {
  if (action.kind === "upload") return action.ifMatch ? "replace" : "create";
  if (action.kind === "conflict")
    return `${action.winner} wins${action.keepLoser ? ", loser kept as a copy" : ""}`;
  return undefined;
}

/**
 * One reconcile pass over a set (DESIGN §5), or over part of it: merge-join the sorted local scan, journal
 * and bucket listing, plan each key, execute with bounded concurrency, then deletions behind the guard, then
 * the change log, housekeeping and the heartbeat.
 */
export async function runPass(deps: PassDeps, options: PassOptions = {}): Promise<PassResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const scope = options.scope ?? { kind: "full" };
  const full = scope.kind === "full";
  const { set, journal, datastore, config } = deps;
  const logger = deps.logger.child({ set: set.name });
  const owners = deps.owners ?? new OwnerNames();
  const executor = new Executor({ ...deps, logger, owners, now, onApplied: options.onApplied });
  const state = journal.getSetState(set.name);
  const catchUp =
    full &&
    state.lastGoodSync !== null &&
    started - state.lastGoodSync > Math.min(config.offlineAfterMs, config.logRetentionMs);
  let hashed = 0;
  const planned: PlannedAction[] = [];
  const problems: PassProblems = { count: 0 };
  const interrupted = () => options.signal?.aborted === true;
  let bucket: BucketView = "listing";
  const result = (error?: string, changeLogKey?: string, guardTripped = error !== undefined): PassResult => ({
    set: set.name,
    ok: error === undefined && executor.counts.failed === 0 && !interrupted(),
    error,
    guardTripped,
    catchUp,
    counts: executor.counts,
    hashed,
    durationMs: now() - started,
    planned,
    changeLogKey,
    problems,
    interrupted: interrupted(),
    bucket,
  });
  // Transfers cut by an outage may have landed without their journal rows: the next pass lists the bucket.
  const outage = (error: Error) => {
    if (!options.dryRun) {
      journal.updateSetState(set.name, { lastError: `datastore lost during the pass: ${error.message}` });
    }
    return error;
  };
  const trip = (message: string) => {
    if (options.dryRun) {
      logger.error(`${message} (dry run: nothing changed)`);
      return result(message);
    }
    executor.recordGuardTrip(message);
    journal.updateSetState(set.name, { lastError: message });
    return result(message);
  };

  const countsAtStart = journal.countByType(set.name);
  const fileWritesAtStart = journal.fileWrites;
  const journalCount = totalEntries(countsAtStart);
  const rootDeps = { config, set, journal, logger };
  let acceptNewRoot = options.acceptNewRoot === true;
  let root;
  try {
    acceptNewRoot = (await takeAcceptFlag(rootDeps, options.dryRun === true)) || acceptNewRoot;
    const allowFlag = await takeFlag(config.stateDir, "allow-mass-delete", set.name, {
      dryRun: options.dryRun === true,
      logger,
      meaning: "this pass may delete past the deletion guard",
    });
    if (allowFlag) options = { ...options, allowMassDelete: true };
    root = await checkRoot(rootDeps, journalCount, { ...options, acceptNewRoot });
    await checkJournalKnowsSet(deps, journalCount, state);
  } catch (error) {
    if (error instanceof GuardError) return trip(error.message);
    if (!(error instanceof RootMissingError)) throw error;
    logger.error(error.message);
    journal.updateSetState(set.name, { lastError: error.message });
    return result(error.message, undefined, false);
  }
  const ignore = options.ignore ?? (await loadSetIgnore(set, logger));
  if ("error" in ignore) return trip(ignore.error);
  const rulesDigest = digestRules(ignore.rules);
  if (catchUp) {
    logger.info("catch-up mode: the last good pass was long ago; applying what changed meanwhile", {
      lastGoodSync: new Date(state.lastGoodSync ?? 0).toISOString(),
    });
  }

  const sourceDeps = { set, journal, datastore, logger, ignored: ignore.ignored };
  // Temp files met by a full pass are left by an interrupted run (a crash, a kill): remove them.
  const tempRemovals: Promise<boolean>[] = [];
  const onTempFile =
    full && !options.dryRun
      ? (key: string) => {
          tempRemovals.push(
            removeStaleTemp(set.path, key).catch((error: unknown) => {
              logger.warn(`cannot remove stale temp file ${key}: ${(error as Error).message}`, { path: key });
              return false;
            }),
          );
        }
      : undefined;
  const ignoredRows = options.dryRun ? undefined : new IgnoredRows(journal, set.name);
  let coveredRecords: string[] = [];
  if (full) {
    const choice = await chooseBucketView(deps, state, journalCount, {
      fullListing: options.fullListing,
      catchUp,
      now: started,
      ignoreRules: rulesDigest,
    });
    bucket = choice.view;
    coveredRecords = choice.covered;
    if (bucket === "journal")
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
          bucket,
        );
  const limit = pLimit(config.concurrency);
  const running = new Set<Promise<void>>();
  const localDeletes: PassItem[] = [];
  const plannedDeletes = { local: 0, remote: 0 };
  const remoteDeletes: PassItem[] = [];
  const blocked: [PassItem, Action][] = [];
  const expiredTombstones: string[] = [];
  const unknown = new UnknownSubtrees();
  const noteProblem = (key: string, detail: string) => {
    problems.count++;
    problems.last = `${key}: ${detail}`;
  };
  const mounts = await checkMounts(rootDeps, { accept: acceptNewRoot, dryRun: options.dryRun === true });
  for (const key of mounts.unmounted) {
    unknown.addDirectory(key);
    noteProblem(key, mounts.detail);
    logOnce(logger, `unmounted:${set.name}:${key}`, "warn", `${key}: ${mounts.detail}`, { path: key });
  }
  const mountFinder = full && root ? new MountFinder(root.dev) : undefined;
  let seen = 0;
  let rowsSeen = 0;
  let remoteSeen = 0;
  const report = () => options.onProgress?.({ checked: seen, counts: executor.counts });

  /** The local side from the stat alone: the row's hash stands for a file whose stat has not changed. */
  const statState = (item: PassItem, entry: LocalEntry): LocalState =>
    localStateOf(
      entry,
      owners,
      entry.type === "file" && item.row?.sha256 && unchangedSinceBase(entry, item.row)
        ? item.row.sha256
        : undefined,
    );
  const needsHash = (item: PassItem) => item.entry?.type === "file" && item.local?.sha256 === undefined;

  // Objects that still match their rows, with the bucket's Last-Modified the rows do not hold yet (an upload
  // records its own clock): once learnt, later listings of them need no metadata.
  const learned: [string, number][] = [];
  const learn = () => journal.setRemoteLastModified(set.name, learned.splice(0));
  const agreed = (join: Joined) => {
    const lastModified = join.remote?.info.lastModified.getTime();
    if (!options.dryRun && join.row && lastModified !== undefined && !join.remote?.current) {
      if (join.row.remoteLastModified !== lastModified) learned.push([join.key, lastModified]);
      if (learned.length >= LEARN_BATCH) learn();
    }
  };

  const process = async (join: Joined, item: PassItem, settled?: Action) => {
    if (executor.outage || interrupted()) return;
    if (item.entry && needsHash(item)) {
      hashed++;
      const read = await hashTreeFile(set.path, item.entry.key, item.entry, KEEP_CONTENT_BYTES);
      item.local = { ...item.local!, sha256: read.sha256 };
      item.content = read.content;
    }
    const action = settled ?? plan(item, set);
    if (action.kind === "none") return agreed(join);
    if (options.dryRun) {
      planned.push({ key: item.key, action: action.kind, detail: describe(action) });
      if (action.kind === "delete-local") plannedDeletes.local++;
      if (action.kind === "delete-remote") plannedDeletes.remote++;
      return;
    }
    if (action.kind === "delete-local") localDeletes.push(item);
    else if (action.kind === "delete-remote") remoteDeletes.push(item);
    else if ((await executor.run(item, action)) === "blocked") blocked.push([item, action]);
    if (action.kind !== "record" && action.kind !== "forget") report();
    if (executor.unpublished >= CHANGE_LOG_BATCH) await publishSoFar();
  };

  let changeLogKey: string | undefined;
  const publish = async () => {
    executor.published();
    changeLogKey = (await publishChanges(deps, now())) ?? changeLogKey;
  };
  const publishSoFar = () =>
    // The records stay in the outbox for the write at the end of the pass, whose failure is the pass's.
    publish().catch(() => undefined);

  for await (const join of joined) {
    if (executor.outage || interrupted()) break;
    seen++;
    if (seen % 1000 === 0) report();
    if (join.row) rowsSeen++;
    if (join.remote) remoteSeen++;
    if (join.local?.problem) {
      reportProblem(logger, join.local.problem);
      noteProblem(join.local.problem.key, join.local.problem.detail);
      executor.counts.skipped++;
      unknown.add(join.local.problem);
      continue;
    }
    if (unknown.covers(join.key)) continue;
    if (join.local?.entry) mountFinder?.see(join.local.entry);
    const tombstone = join.tombstone
      ? tombstoneState(deps, join.key, join.tombstone.info, state, !!join.local?.entry && !join.row)
      : undefined;
    if (tombstone && join.tombstone) {
      const expired = now() - tombstone.deletedAt > config.tombstoneRetentionMs;
      const superseded = join.remote && join.remote.info.lastModified.getTime() > tombstone.deletedAt;
      if (expired || superseded) expiredTombstones.push(join.tombstone.info.key);
    }
    const item: PassItem = {
      key: join.key,
      entry: join.local?.entry,
      row: join.row,
      base: join.row ? baseOf(join.row) : undefined,
      object: join.remote?.info,
      remote: join.remote
        ? join.remote.current && join.row
          ? agreedRemoteState(join.row, join.remote.info)
          : remoteState(join.key, join.remote.info, logger)
        : undefined,
      tombstoneObject: join.tombstone?.info,
      // This machine's own deletion mark cannot say that a file here now was deleted elsewhere: the file was
      // created again here (restored after an rm -rf, say), so it is published, not deleted.
      tombstone: tombstone?.deletedBy === config.machine && join.local?.entry ? undefined : tombstone,
    };
    if (item.entry) item.local = statState(item, item.entry);
    // Most entries of a pass agree on every side and need no hashing: they are settled here, in order,
    // without a task of their own.
    const settled = needsHash(item) ? undefined : plan(item, set);
    if (settled?.kind === "none") {
      agreed(join);
      continue;
    }
    const promise = limit(() => process(join, item, settled)).catch((error: unknown) => {
      executor.counts.failed++;
      logger.error(`${item.key}: ${error instanceof Error ? error.message : String(error)}`, {
        path: item.key,
      });
    });
    running.add(promise);
    void promise.finally(() => running.delete(promise));
    if (limit.pendingCount > config.concurrency * 4) await Promise.race(running);
  }
  await Promise.all(running);
  learn();
  ignoredRows?.flush();
  if (ignoredRows?.count) {
    logger.info(
      `${ignoredRows.count} ignored path(s) left out of the sync; their files and objects stay as they are`,
    );
  }
  const staleTemps = (await Promise.all(tempRemovals)).filter(Boolean).length;
  if (staleTemps > 0) logger.info(`removed ${staleTemps} stale temp file(s) left by an interrupted run`);
  // Every further request would wait out its retries: stop, leaving the rest (and all deletions) to the
  // next pass. The caller sees the datastore error: `fedsync sync` exits 1, the agent backs off and retries.
  if (executor.outage) throw outage(executor.outage);
  // What went out before a stop is announced, so lightweight peers need not wait for a full pass.
  const stop = async () => {
    if (!options.dryRun) await publishSoFar();
    return result(undefined, changeLogKey);
  };
  if (interrupted()) return stop();
  if (root) {
    try {
      await recheckRoot(rootDeps, root, journalCount);
    } catch (error) {
      if (error instanceof GuardError) return trip(error.message);
      throw error;
    }
  }

  // Rows of ignored paths are not counted: rules that ignore everything leave nothing to list.
  if (full && bucket === "listing" && rowsSeen > 0 && remoteSeen === 0 && !options.allowMassDelete) {
    return trip(
      `the bucket holds nothing under ${set.prefix} but the journal knows ${rowsSeen} entries; nothing deleted (${massDeleteHint(set, config.stateDir)})`,
    );
  }
  if (options.dryRun) {
    // The guard the real pass would meet, so the plan does not promise what the pass would refuse.
    const guard = deletionGuard(
      set,
      config.stateDir,
      journalCount,
      plannedDeletes.local,
      plannedDeletes.remote,
      options.recentDeletions,
    );
    return guard && !options.allowMassDelete ? trip(guard) : result();
  }

  const guard = deletionGuard(
    set,
    config.stateDir,
    journalCount,
    localDeletes.length,
    remoteDeletes.length,
    options.recentDeletions,
  );
  if (guard && !options.allowMassDelete) return trip(guard);
  await Promise.all(
    remoteDeletes.map((item) =>
      limit(async () => {
        if (!executor.outage && !interrupted()) await executor.run(item, { kind: "delete-remote" });
      }),
    ),
  );
  if (executor.outage) throw outage(executor.outage);
  for (const item of localDeletes.filter((i) => !isDirKey(i.key))) {
    if (!interrupted()) await executor.runFinal(item, { kind: "delete-local" });
  }
  for (const item of localDeletes.filter((i) => isDirKey(i.key)).reverse()) {
    if (!interrupted()) await executor.runFinal(item, { kind: "delete-local" });
  }
  for (const [item, action] of blocked) if (!interrupted()) await executor.runFinal(item, action);
  if (executor.outage) throw outage(executor.outage);
  if (interrupted()) return stop();

  await publish();
  const finished = now();
  const failed = executor.counts.failed;
  journal.updateSetState(set.name, {
    ...(full
      ? {
          lastFullPass: finished,
          // Also the change log's cursor for the next pass's choice of bucket view (bucket-view.ts).
          ...(bucket === "listing" && { lastFullPassStarted: started, listedIgnoreRules: rulesDigest }),
          lastGoodSync: finished,
          lastPassMs: finished - started,
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
    if (failed === 0 && problems.count === 0) {
      journal.transaction(() => {
        for (const record of coveredRecords) journal.markLogApplied(set.name, record);
      });
    }
    if (bucket === "listing") await housekeep(deps, expiredTombstones, finished, logger);
    await pruneHistoryAndTrash({ ...deps, logger }, finished);
    const counts = journal.fileWrites === fileWritesAtStart ? countsAtStart : journal.countByType(set.name);
    await writeHeartbeat(deps, finished, counts);
  }
  return result(undefined, changeLogKey);
}

function reportProblem(logger: Logger, problem: ScanProblem) {
  logOnce(
    logger,
    `problem:${problem.key}:${problem.reason}`,
    "warn",
    `skipping ${problem.key}: ${problem.detail}`,
    {
      path: problem.key,
      reason: problem.reason,
    },
  );
}
