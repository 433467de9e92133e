import type { Config, SetConfig } from "../config/types.js";
import type { Datastore, ObjectInfo } from "../datastore/types.js";
import type { Logger } from "../log/index.js";
import type { Journal } from "../journal/journal.js";
import { RESERVED_PREFIX } from "../config/names.js";
import { decodeTombstoneMeta } from "../datastore/metadata.js";
import { compactTimestamp, logKey, logPrefix, parseCompactTimestamp } from "../datastore/layout.js";

interface Deps {
  config: Config;
  set: SetConfig;
  datastore: Datastore;
  journal: Journal;
}

let logSequence = 0;

/**
 * Outgoing changes go into one change-log object this many at a time, so a pass that uploads a million files
 * neither holds all their records until it ends nor writes them as one huge object.
 */
export const CHANGE_LOG_BATCH = 10_000;

/**
 * Publishes the records waiting in the journal's outbox as change-log objects (JSON lines that the fast
 * incoming path reads), and removes them from the outbox once written. Returns the last object's key.
 */
export async function publishChanges(deps: Deps, at: number): Promise<string | undefined> {
  let key: string | undefined;
  for (;;) {
    const batch = deps.journal.readyChanges(deps.set.name, CHANGE_LOG_BATCH);
    if (batch.length === 0) return key;
    key = logKey(deps.set.name, at, deps.config.machine, ++logSequence);
    const lines = batch.map(({ id: _id, ...change }) => JSON.stringify(change) + "\n");
    const body = Buffer.from(lines.join(""));
    await deps.datastore.put(key, body, body.length, { "content-type": "application/x-ndjson" });
    deps.journal.changesPublished(batch.map((change) => change.id));
    if (batch.length < CHANGE_LOG_BATCH) return key;
  }
}

/** A deletion mark past its retention, or `superseded` by an object written after it. */
export interface ExpiredTombstone {
  info: ObjectInfo;
  superseded: boolean;
}

/**
 * The marks that are still the ones the pass saw. A superseded mark is looked at again first: another
 * machine may have deleted the newer object since, writing a new mark under the same name.
 */
async function stillExpired(datastore: Datastore, tombstones: ExpiredTombstone[]): Promise<string[]> {
  const keys: string[] = [];
  for (const { info, superseded } of tombstones) {
    const now = superseded ? await datastore.stat(info.key) : info;
    if (now && sameMark(now, info)) keys.push(info.key);
  }
  return keys;
}

/**
 * Whether the mark looked up (`a`) is the one listed (`b`). A HEAD answer carries whole seconds only: the
 * mark's own record of its deletion tells two marks apart, where the listing carries it (not on plain S3).
 */
function sameMark(a: ObjectInfo, b: ObjectInfo): boolean {
  const seconds = (info: ObjectInfo) => Math.floor(info.lastModified.getTime() / 1000);
  const deletedAt = (info: ObjectInfo) => decodeTombstoneMeta(info.metadata)?.deletedAt;
  const listed = deletedAt(b);
  return seconds(a) === seconds(b) && (listed === undefined || deletedAt(a) === listed);
}

/** Expires tombstones and change-log records past their retention. */
export async function housekeep(
  deps: Deps,
  tombstones: ExpiredTombstone[],
  now: number,
  logger: Logger,
): Promise<void> {
  const expiredTombstones = await stillExpired(deps.datastore, tombstones);
  deps.journal.pruneAppliedTombstones(deps.set.name, now - deps.config.tombstoneRetentionMs);
  const prefix = logPrefix(deps.set.name);
  const cutoff = now - deps.config.logRetentionMs;
  deps.journal.pruneAppliedLog(deps.set.name, prefix + compactTimestamp(cutoff));
  const expiredLogs: string[] = [];
  for await (const info of deps.datastore.list(prefix)) {
    const at = parseCompactTimestamp(info.key.slice(prefix.length));
    if (at === undefined) continue;
    if (at >= cutoff) break;
    expiredLogs.push(info.key);
  }
  const expired = [...expiredTombstones, ...expiredLogs];
  if (expired.length === 0) return;
  await deps.datastore.delete(expired);
  for (const key of expiredTombstones) logger.debug("deletion mark expired", { key });
  logger.info("housekeeping", {
    tombstonesExpired: expiredTombstones.length,
    logRecordsExpired: expiredLogs.length,
  });
}

/** Names of the sets that have records under `.fedsync/` in the bucket, whichever machines sync them. */
export async function recordedSets(datastore: Datastore): Promise<string[]> {
  const sets: string[] = [];
  for await (const info of datastore.list(RESERVED_PREFIX, { delimiter: true })) {
    if (info.key.endsWith("/")) sets.push(info.key.slice(RESERVED_PREFIX.length, -1));
  }
  return sets;
}
