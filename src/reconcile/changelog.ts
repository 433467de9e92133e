import { isMachineName } from "../config/names.js";
import type { Datastore } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import { compactTimestamp, logPrefix, parseCompactTimestamp } from "../datastore/layout.js";
import { validateEntryKey } from "../scan/keys.js";

const TIMESTAMP_LENGTH = compactTimestamp(0).length;
/** Larger records are not read (one pass writes one record, about 150 bytes a change); the safety pass covers. */
const MAX_RECORD_BYTES = 32 * 1024 * 1024;

/** The machine that wrote a change-log record, from its key `<timestamp>-<machine>-<seq>`, if a valid name. */
export function recordMachine(set: string, key: string): string | undefined {
  const name = key.slice(logPrefix(set).length);
  const rest = name.slice(TIMESTAMP_LENGTH + 1);
  const lastDash = rest.lastIndexOf("-");
  const machine = lastDash > 0 ? rest.slice(0, lastDash) : "";
  return isMachineName(machine) ? machine : undefined;
}

/** The time a change-log record key (or a cursor) is stamped with, if it has one. */
export function recordTime(set: string, key: string): number | undefined {
  return parseCompactTimestamp(key.slice(logPrefix(set).length));
}

export interface ChangeLogBatch {
  /** What other machines changed since the last read, newest change per path. */
  changes: RecordedChange[];
  /** Record keys read (to mark applied once their paths are synced). */
  records: string[];
  /** The newest record key seen, the next cursor. */
  cursor: string | undefined;
}

/** What a change-log line says happened to a path: written (with the ETag the writer got), or deleted. */
export interface RecordedChange {
  path: string;
  op: "put" | "delete";
  etag?: string;
}

/**
 * The changes a record's body lists. A record is a hint written by any bucket client: only paths a set may
 * hold are taken, and a damaged line is passed over (the safety pass covers whatever it described).
 */
function recordedChanges(body: string): RecordedChange[] {
  const changes: RecordedChange[] = [];
  for (const line of body.split("\n")) {
    if (!line.trim()) continue;
    let record: { path?: unknown; op?: unknown; etag?: unknown };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      continue;
    }
    if (typeof record.path !== "string" || validateEntryKey(record.path) !== null) continue;
    changes.push({
      path: record.path,
      op: record.op === "delete" ? "delete" : "put",
      ...(typeof record.etag === "string" && record.etag.length <= 200 && { etag: record.etag }),
    });
  }
  return changes;
}

/**
 * The newest change each of these records (other writers', in key order) names per path, for a listing pass
 * to check its listing against. A record too large to read names nothing.
 */
export async function readRecordedChanges(
  datastore: Datastore,
  records: readonly { key: string; size: number }[],
): Promise<Map<string, RecordedChange>> {
  const byPath = new Map<string, RecordedChange>();
  for (const record of records) {
    if (record.size > MAX_RECORD_BYTES) continue;
    for (const change of recordedChanges(await readBody(datastore, record.key)))
      byPath.set(change.path, change);
  }
  return byPath;
}

async function readBody(datastore: Datastore, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of await datastore.get(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Reads the change-log records other machines wrote since `cursor`. Listing restarts a clock-skew window
 * before the cursor (a machine whose clock runs behind writes keys that sort earlier), and records already
 * applied are skipped, so no record is missed and none is applied twice.
 */
export async function readChangeLog(
  datastore: Datastore,
  journal: Journal,
  set: string,
  machine: string,
  cursor: string,
  clockSkewMs: number,
  now: number = Date.now(),
): Promise<ChangeLogBatch> {
  const prefix = logPrefix(set);
  const startAfter = prefix + compactTimestamp((recordTime(set, cursor) ?? Date.now()) - clockSkewMs);
  const latest = new Map<string, RecordedChange>();
  const records: string[] = [];
  let newest: string | undefined;
  for await (const info of datastore.list(prefix, { startAfter })) {
    if (newest === undefined || info.key > newest) newest = info.key;
    if (journal.isLogApplied(set, info.key)) continue;
    records.push(info.key);
    if (recordMachine(set, info.key) === machine || info.size > MAX_RECORD_BYTES) continue;
    for (const change of recordedChanges(await readBody(datastore, info.key)))
      latest.set(change.path, change);
  }
  // Changes a notification already brought here need no look-up.
  const changes = [...latest.values()].filter((change) => !inJournal(journal, set, change));
  // A machine whose clock runs ahead writes keys from the future: the cursor never passes this machine's own
  // now, so the records of machines with correct clocks that come after them are still listed.
  const next = newest === undefined || newest < cursorAt(set, now) ? newest : cursorAt(set, now);
  return { changes, records, cursor: next && next > cursor ? next : undefined };
}

/** Whether the journal already holds what a change says: the version written (by its ETag), or no entry. */
function inJournal(journal: Journal, set: string, change: RecordedChange): boolean {
  const row = journal.getFile(set, change.path);
  if (change.op === "delete") return row === undefined;
  return change.etag !== undefined && row?.remoteEtag === change.etag;
}

/**
 * The change-log records that writers other than `machine` left for the set after `since` (clock skew
 * allowed; the whole log when undefined) and that this machine has not applied. A record with no valid
 * machine name counts as another writer's. One listing request while the log is short, as it is between
 * housekeepings.
 */
export async function othersRecords(
  datastore: Datastore,
  journal: Journal,
  set: string,
  machine: string,
  since: number | undefined,
  clockSkewMs: number,
): Promise<{ key: string; size: number }[]> {
  const prefix = logPrefix(set);
  const startAfter = since === undefined ? undefined : prefix + compactTimestamp(since - clockSkewMs);
  const records: { key: string; size: number }[] = [];
  for await (const info of datastore.list(prefix, { startAfter })) {
    if (recordMachine(set, info.key) !== machine && !journal.isLogApplied(set, info.key))
      records.push({ key: info.key, size: info.size });
  }
  return records;
}

/** The cursor that starts reading at `at` (used after a full pass, which already applied everything older). */
export function cursorAt(set: string, at: number): string {
  return logPrefix(set) + compactTimestamp(at);
}
