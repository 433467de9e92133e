import { mkdir, opendir, stat } from "node:fs/promises";
import pLimit from "p-limit";
import type { Config, SetConfig } from "../config/types.js";
import { decodeEntryMeta, decodeTombstoneMeta } from "../datastore/metadata.js";
import type { Datastore, ObjectInfo } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import type { FileRow } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { isDirKey, type LocalEntry, type ScanItem, type ScanProblem } from "../scan/entry.js";
import { sha256File } from "../scan/hash.js";
import { objectKeyToEntryKey } from "../scan/keys.js";
import { unchangedSinceBase } from "../scan/unchanged.js";
import { scanTree } from "../scan/walk.js";
import { Executor, type PassCounts } from "./executor.js";
import { baseOf, type PassItem } from "./item.js";
import { housekeep, writeChangeLog, writeHeartbeat } from "./housekeeping.js";
import { absolutePath, TEMP_PREFIX } from "./localfs.js";
import { mergeByKey } from "./merge.js";
import { OwnerNames } from "./owners.js";
import { createIgnoreMatcher } from "./ignore.js";
import { plan, type Action } from "./planner.js";
import { tombstonePrefix } from "./layout.js";
import type { LocalState, RemoteState, TombstoneState } from "./state.js";

/** Below this many deletions the ratio guard does not apply: deleting 3 of 4 config files is normal. */
export const GUARD_MIN_DELETIONS = 10;

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
  dryRun?: boolean;
  allowMassDelete?: boolean;
  /** Called with a one-line progress summary as the pass goes. */
  onProgress?: (summary: string) => void;
}

export interface PlannedAction {
  key: string;
  action: Action["kind"];
  detail?: string;
}

export interface PassResult {
  set: string;
  ok: boolean;
  /** Why the pass stopped (a guard, an unreachable bucket); undefined when it ran to the end. */
  error?: string;
  guardTripped: boolean;
  catchUp: boolean;
  counts: PassCounts;
  durationMs: number;
  /** The plan, for --dry-run. */
  planned: PlannedAction[];
}

export class GuardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GuardError";
  }
}

interface LocalItem {
  key: string;
  entry?: LocalEntry;
  problem?: ScanProblem;
}

async function* localItems(scan: AsyncIterable<ScanItem>): AsyncGenerator<LocalItem> {
  for await (const item of scan) {
    if (item.kind === "entry") yield { key: item.entry.key, entry: item.entry };
    else yield { key: item.problem.key, problem: item.problem };
  }
}

/** Whether the set root holds nothing but fedsync's own temp files. */
async function rootIsEmpty(root: string): Promise<boolean> {
  const dir = await opendir(root);
  try {
    for await (const entry of dir) {
      if (!entry.name.startsWith(TEMP_PREFIX)) return false;
    }
    return true;
  } finally {
    await dir.close().catch(() => undefined);
  }
}

/**
 * One heavyweight pass over a set (DESIGN §5): merge-join the sorted local scan, journal and bucket listing,
 * plan each key, execute with bounded concurrency, then deletions behind the guard, then housekeeping.
 */
export async function runPass(deps: PassDeps, options: PassOptions = {}): Promise<PassResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const { set, journal, datastore, config } = deps;
  const logger = deps.logger.child({ set: set.name });
  const owners = deps.owners ?? new OwnerNames();
  const executor = new Executor({ ...deps, logger, owners, now });
  const state = journal.getSetState(set.name);
  const catchUp =
    state.lastGoodSync !== null &&
    started - state.lastGoodSync > Math.min(config.offlineAfterMs, config.logRetentionMs);
  const result = (error?: string, guardTripped = false, planned: PlannedAction[] = []): PassResult => ({
    set: set.name,
    ok: error === undefined && executor.counts.failed === 0,
    error,
    guardTripped,
    catchUp,
    counts: executor.counts,
    durationMs: now() - started,
    planned,
  });

  const journalCount = journal.countFiles(set.name);
  try {
    await checkRoot(set, journalCount, options);
  } catch (error) {
    if (!(error instanceof GuardError)) throw error;
    logger.error(error.message);
    journal.updateSetState(set.name, { lastError: error.message });
    return result(error.message, true);
  }
  if (catchUp) {
    logger.info("catch-up mode: last good pass was long ago; applying remote history first", {
      lastGoodSync: new Date(state.lastGoodSync ?? 0).toISOString(),
    });
  }

  const ignored = createIgnoreMatcher(set.ignore);
  const remoteListing = filterRemote(
    datastore.list(set.prefix, { withMetadata: true }),
    set.prefix,
    ignored,
    logger,
  );
  const tombstoneListing = filterRemote(
    datastore.list(tombstonePrefix(set.name), { withMetadata: true }),
    tombstonePrefix(set.name),
    ignored,
    logger,
  );
  const rows = journalRows(journal, set.name, ignored);
  const merged = mergeByKey<{ local: LocalItem; row: KeyedRow; remote: Listed; tombstone: Listed }>({
    local: localItems(scanTree(set.path, { ignore: set.ignore })),
    row: rows,
    remote: remoteListing,
    tombstone: tombstoneListing,
  });

  const limit = pLimit(config.concurrency);
  const running = new Set<Promise<void>>();
  const localDeletes: PassItem[] = [];
  const remoteDeletes: PassItem[] = [];
  const blocked: [PassItem, Action][] = [];
  const planned: PlannedAction[] = [];
  const expiredTombstones: string[] = [];
  let unknownPrefix: string | undefined;
  let seen = 0;
  let remoteSeen = 0;
  const report = () =>
    options.onProgress?.(
      `${set.name}: ${seen} checked, ${executor.counts.uploaded} up, ${executor.counts.downloaded} down`,
    );

  for await (const join of merged) {
    seen++;
    if (seen % 1000 === 0) report();
    if (join.remote) remoteSeen++;
    if (join.local?.problem) {
      reportProblem(logger, join.local.problem);
      executor.counts.skipped++;
      if (join.local.problem.reason === "unreadable" && isDirKey(join.key)) unknownPrefix = join.key;
      continue;
    }
    if (unknownPrefix !== undefined && join.key.startsWith(unknownPrefix)) continue;
    unknownPrefix = undefined;

    const tombstone = join.tombstone ? tombstoneState(join.tombstone.info) : undefined;
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
      remote: join.remote ? remoteState(join.key, join.remote.info, logger) : undefined,
      tombstoneObject: join.tombstone?.info,
      tombstone,
    };
    const task = async () => {
      if (item.entry) item.local = await localState(set, item.entry, join.row, owners);
      if (item.remote && item.object && needsRemoteMetadata(item)) {
        const info = await datastore.stat(item.object.key);
        if (info) {
          item.object = info;
          item.remote = remoteState(item.key, info, logger);
        }
      }
      const action = plan(item, set);
      if (action.kind === "none") return;
      if (options.dryRun) {
        planned.push({ key: item.key, action: action.kind, detail: describe(action) });
        return;
      }
      if (action.kind === "delete-local") localDeletes.push(item);
      else if (action.kind === "delete-remote") remoteDeletes.push(item);
      else if ((await executor.run(item, action)) === "blocked") blocked.push([item, action]);
      if (action.kind !== "record" && action.kind !== "forget") report();
    };
    const promise = limit(task).catch((error: unknown) => {
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

  if (journalCount > 0 && remoteSeen === 0 && !options.allowMassDelete) {
    const message = `the bucket holds nothing under ${set.prefix} but the journal knows ${journalCount} entries; not deleting anything (run \`fedsync sync --set ${set.name} --allow-mass-delete\` if this is intended)`;
    logger.error(message);
    journal.updateSetState(set.name, { lastError: message });
    return result(message, true, planned);
  }

  if (options.dryRun) {
    planned.sort((a, b) => (a.key < b.key ? -1 : 1));
    return result(undefined, false, planned);
  }

  const guard = deletionGuard(set, journalCount, localDeletes.length, remoteDeletes.length);
  if (guard && !options.allowMassDelete) {
    logger.error(guard);
    journal.updateSetState(set.name, { lastError: guard });
    return result(guard, true);
  }
  await Promise.all(remoteDeletes.map((item) => limit(() => executor.run(item, { kind: "delete-remote" }))));
  for (const item of localDeletes.filter((i) => !isDirKey(i.key))) {
    await executor.runFinal(item, { kind: "delete-local" });
  }
  for (const item of localDeletes.filter((i) => isDirKey(i.key)).reverse()) {
    await executor.runFinal(item, { kind: "delete-local" });
  }
  for (const [item, action] of blocked) await executor.runFinal(item, action);

  await writeChangeLog(deps, executor.changes, now());
  await housekeep(deps, expiredTombstones, now(), logger);
  const finished = now();
  journal.updateSetState(set.name, {
    lastFullPass: finished,
    lastGoodSync: finished,
    lastPassMs: finished - started,
    lastError:
      executor.counts.failed > 0 ? `${executor.counts.failed} action(s) failed; retrying next pass` : null,
  });
  await writeHeartbeat(deps, finished, journal.countFiles(set.name));
  return result();
}

async function checkRoot(set: SetConfig, journalCount: number, options: PassOptions): Promise<void> {
  let rootStats;
  try {
    rootStats = await stat(set.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (!rootStats) {
    if (journalCount > 0 && !options.allowMassDelete) {
      throw new GuardError(
        `set root ${set.path} is missing but the journal knows ${journalCount} entries (unmounted?); not syncing`,
      );
    }
    if (!options.dryRun) await mkdir(set.path, { recursive: true, mode: 0o755 });
    return;
  }
  if (!rootStats.isDirectory()) throw new GuardError(`set root ${set.path} is not a directory; not syncing`);
  if (journalCount > 0 && !options.allowMassDelete && (await rootIsEmpty(set.path))) {
    throw new GuardError(
      `set root ${set.path} is empty but the journal knows ${journalCount} entries (emptied or unmounted?); not deleting anything (run \`fedsync sync --set ${set.name} --allow-mass-delete\` if this is intended)`,
    );
  }
}

function deletionGuard(
  set: SetConfig,
  journalCount: number,
  local: number,
  remote: number,
): string | undefined {
  const limit = Math.max(GUARD_MIN_DELETIONS, set.maxDelete * journalCount);
  for (const [count, side] of [
    [local, "local"],
    [remote, "bucket"],
  ] as const) {
    if (count > limit) {
      return `deletion guard: this pass would delete ${count} of ${journalCount} entries on the ${side} side (max_delete ${Math.round(set.maxDelete * 100)}%); nothing deleted (run \`fedsync sync --set ${set.name} --allow-mass-delete\` if this is intended)`;
    }
  }
  return undefined;
}

interface Listed {
  key: string;
  info: ObjectInfo;
}

async function* filterRemote(
  listing: AsyncIterable<ObjectInfo>,
  prefix: string,
  ignored: (key: string) => boolean,
  logger: Logger,
): AsyncGenerator<Listed> {
  for await (const info of listing) {
    const mapped = objectKeyToEntryKey(prefix, info.key);
    if ("refused" in mapped) {
      logOnce(
        logger,
        `refused:${info.key}`,
        "warn",
        `skipping object ${JSON.stringify(info.key)}: ${mapped.refused}`,
      );
      continue;
    }
    if (!ignored(mapped.key)) yield { key: mapped.key, info };
  }
}

type KeyedRow = FileRow & { key: string };

function* journalRows(journal: Journal, set: string, ignored: (key: string) => boolean): Generator<KeyedRow> {
  for (const row of journal.filesInOrder(set)) {
    if (!ignored(row.path)) yield { ...row, key: row.path };
  }
}

async function localState(set: SetConfig, entry: LocalEntry, row: FileRow | undefined, owners: OwnerNames) {
  const state: LocalState = {
    type: entry.type,
    size: entry.size,
    mtimeMs: entry.mtimeMs,
    mode: entry.mode,
    owner: owners.userName(entry.uid),
    group: owners.groupName(entry.gid),
    target: entry.target,
  };
  if (entry.type === "file") {
    state.sha256 =
      row?.sha256 && unchangedSinceBase(entry, row)
        ? row.sha256
        : await sha256File(absolutePath(set.path, entry.key));
  }
  return state;
}

function remoteState(key: string, info: ObjectInfo, logger: Logger): RemoteState {
  const decoded = decodeEntryMeta(info.metadata);
  if (decoded?.invalid.length) {
    logOnce(logger, `meta:${info.key}:${info.etag}`, "warn", `ignoring invalid metadata on ${info.key}`, {
      fields: decoded.invalid.join(","),
    });
  }
  const meta = decoded?.meta;
  return {
    type: meta?.type ?? (isDirKey(key) ? "dir" : "file"),
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

function tombstoneState(info: ObjectInfo): TombstoneState {
  const meta = decodeTombstoneMeta(info.metadata);
  return {
    type: (info.metadata?.["fedsync-type"] as TombstoneState["type"] | undefined) ?? "file",
    deletedAt: meta?.deletedAt ?? info.lastModified.getTime(),
    deletedBy: meta?.deletedBy,
    sha256: meta?.sha256,
  };
}

/** A changed object listed without metadata (a server without the metadata listing): ask for it. */
function needsRemoteMetadata(item: PassItem): boolean {
  return item.object?.metadata === undefined && item.object?.etag !== item.row?.remoteEtag;
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

function describe(action: Action): string | undefined {
  if (action.kind === "upload") return action.ifMatch ? "replace" : "create";
  if (action.kind === "conflict")
    return `${action.winner} wins${action.keepLoser ? ", loser kept as a copy" : ""}`;
  return undefined;
}
