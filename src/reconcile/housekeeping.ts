import type { Config, SetConfig } from "../config/types.js";
import { NotFoundError } from "../datastore/errors.js";
import type { Datastore } from "../datastore/types.js";
import type { EntryCounts } from "../journal/types.js";
import type { Logger } from "../log/index.js";
import type { Journal } from "../journal/journal.js";
import { isMachineName, RESERVED_PREFIX } from "../config/names.js";
import {
  compactTimestamp,
  heartbeatKey,
  heartbeatPrefix,
  logKey,
  logPrefix,
  parseCompactTimestamp,
} from "../datastore/layout.js";
import { FEDSYNC_VERSION } from "../version.js";

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

/** Expires tombstones and change-log records past their retention. */
export async function housekeep(
  deps: Deps,
  expiredTombstones: string[],
  now: number,
  logger: Logger,
): Promise<void> {
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
  logger.info("housekeeping", {
    tombstonesExpired: expiredTombstones.length,
    logRecordsExpired: expiredLogs.length,
  });
}

export interface Heartbeat {
  machine: string;
  version: string;
  lastGoodPass: number;
  /** Regular files. Heartbeats written before `directories` existed counted every entry here. */
  files: number;
  directories?: number;
  symlinks?: number;
}

const VERSION_TEXT = /^[0-9A-Za-z.+-]{1,40}$/;

/**
 * A heartbeat object's body, checked field by field (any bucket writer may have put it): undefined unless the
 * machine is a valid machine name matching the key's, and the figures are what they claim to be.
 */
export function parseHeartbeat(set: string, key: string, body: string): Heartbeat | undefined {
  let value: Partial<Record<keyof Heartbeat, unknown>>;
  try {
    value = JSON.parse(body) as typeof value;
  } catch {
    return undefined;
  }
  const { machine, version, lastGoodPass, files, directories, symlinks } = value ?? {};
  const count = (n: unknown) => (Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined);
  const valid =
    typeof machine === "string" &&
    isMachineName(machine) &&
    key === heartbeatKey(set, machine) &&
    typeof version === "string" &&
    VERSION_TEXT.test(version) &&
    Number.isSafeInteger(lastGoodPass) &&
    !Number.isNaN(new Date(lastGoodPass as number).getTime()) &&
    count(files) !== undefined;
  return valid
    ? {
        machine,
        version,
        lastGoodPass: lastGoodPass as number,
        files: files as number,
        directories: count(directories),
        symlinks: count(symlinks),
      }
    : undefined;
}

/** Tells the federation this machine is alive, when it last completed a pass and what it holds. */
export async function writeHeartbeat(deps: Deps, lastGoodPass: number, counts: EntryCounts): Promise<void> {
  const heartbeat: Heartbeat = {
    machine: deps.config.machine,
    version: FEDSYNC_VERSION,
    lastGoodPass,
    ...counts,
  };
  const body = Buffer.from(JSON.stringify(heartbeat));
  await deps.datastore.put(heartbeatKey(deps.set.name, deps.config.machine), body, body.length, {
    "content-type": "application/json",
  });
}

/** A heartbeat as found in the bucket, with the time its object was written. */
export interface StoredHeartbeat extends Heartbeat {
  key: string;
  writtenAt: number;
}

/** The heartbeats of every machine for one set (bucket objects, so each one is checked before use). */
export async function readHeartbeats(datastore: Datastore, set: string): Promise<StoredHeartbeat[]> {
  const heartbeats: StoredHeartbeat[] = [];
  for await (const info of datastore.list(heartbeatPrefix(set))) {
    const heartbeat = await readStored(datastore, set, info.key, info.lastModified);
    if (heartbeat) heartbeats.push(heartbeat);
  }
  return heartbeats;
}

/** One machine's heartbeat for one set, if there is one. */
export async function readHeartbeat(
  datastore: Datastore,
  set: string,
  machine: string,
): Promise<StoredHeartbeat | undefined> {
  const key = heartbeatKey(set, machine);
  const info = await datastore.stat(key);
  if (!info) return undefined;
  return readStored(datastore, set, key, info.lastModified);
}

async function readStored(datastore: Datastore, set: string, key: string, lastModified: Date) {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of await datastore.get(key)) chunks.push(chunk as Buffer);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const parsed = parseHeartbeat(set, key, Buffer.concat(chunks).toString("utf8"));
  return parsed && { ...parsed, key, writtenAt: lastModified.getTime() };
}

/** Names of the sets that have records under `.fedsync/` in the bucket, whichever machines sync them. */
export async function recordedSets(datastore: Datastore): Promise<string[]> {
  const sets: string[] = [];
  for await (const info of datastore.list(RESERVED_PREFIX, { delimiter: true })) {
    if (info.key.endsWith("/")) sets.push(info.key.slice(RESERVED_PREFIX.length, -1));
  }
  return sets;
}
