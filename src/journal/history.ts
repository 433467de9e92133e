/** The journal's `history` table (the audit trail): row shapes and the queries behind `fedsync log`. */
import type { JournalDatabase } from "./database.js";

/** What a machine did to a path. */
export type HistoryAction =
  "upload" | "download" | "delete-local" | "delete-remote" | "conflict" | "guard-trip";

export const HISTORY_ACTIONS: readonly HistoryAction[] = [
  "upload",
  "download",
  "delete-local",
  "delete-remote",
  "conflict",
  "guard-trip",
];

/** The table keeps at most this many rows; housekeeping drops the oldest beyond it. */
export const HISTORY_MAX_ROWS = 1_000_000;

export interface HistoryRow {
  id: number;
  /** ms since the epoch. */
  at: number;
  set: string;
  /** Entry key; empty for a guard trip (it concerns the whole set). */
  path: string;
  action: HistoryAction;
  /** The machine whose change it was: this one for uploads, the writer for downloads, the deleter for deletions. */
  origin: string;
  sha256: string | null;
  size: number | null;
  /** Conflict copy, guard message. */
  detail: string | null;
  /** Absolute path where the replaced or deleted local version was kept (`keep_deleted`). */
  trash: string | null;
}

export type NewHistoryRow = Omit<HistoryRow, "id">;

export interface HistoryFilter {
  set?: string;
  origin?: string;
  /** Only rows at or after this time (ms). */
  since?: number;
  /** Only this exact path. */
  path?: string;
  /** Only paths starting with this text (narrows a glob by its literal part). */
  pathPrefix?: string;
}

/** A history row as SQLite returns it: the set under its column's name. */
export type HistoryRecord = Omit<HistoryRow, "set"> & { set_name: string };

export const HISTORY_COLUMNS = "id, at, set_name, path, action, origin, sha256, size, detail, trash";

export function toHistoryRow(r: HistoryRecord): HistoryRow {
  return {
    id: r.id,
    at: r.at,
    set: r.set_name,
    path: r.path,
    action: r.action,
    origin: r.origin,
    sha256: r.sha256,
    size: r.size,
    detail: r.detail,
    trash: r.trash,
  };
}

/** The largest code point: every string that starts with `p` sorts before `p + LAST_CHAR` in UTF-8 order. */
const LAST_CHAR = "\u{10FFFF}";

/**
 * The query for rows matching `filter`, newest first. Each filter column leads an index whose second column
 * is `at` (and whose rows end in the rowid `id`), so SQLite reads the rows in order and stops at the limit.
 */
export function historyQuery(filter: HistoryFilter): { sql: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.set !== undefined) {
    where.push("set_name = ?");
    params.push(filter.set);
  }
  if (filter.origin !== undefined) {
    where.push("origin = ?");
    params.push(filter.origin);
  }
  if (filter.path !== undefined) {
    where.push("path = ?");
    params.push(filter.path);
  } else if (filter.pathPrefix) {
    where.push("path >= ? AND path < ?");
    params.push(filter.pathPrefix, filter.pathPrefix + LAST_CHAR);
  }
  if (filter.since !== undefined) {
    where.push("at >= ?");
    params.push(filter.since);
  }
  const clause = where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "";
  return { sql: `SELECT ${HISTORY_COLUMNS} FROM history${clause} ORDER BY at DESC, id DESC`, params };
}

export function addHistory(db: JournalDatabase, row: NewHistoryRow): number {
  const result = db
    .statement(
      `INSERT INTO history (${HISTORY_COLUMNS.replace("id, ", "")}) VALUES ` +
        "(@at, @set, @path, @action, @origin, @sha256, @size, @detail, @trash)",
    )
    .run(row);
  return Number(result.lastInsertRowid);
}

export function* readHistory(db: JournalDatabase, filter: HistoryFilter): Generator<HistoryRow> {
  const { sql, params } = historyQuery(filter);
  // Not cached: two readers of the same shape may iterate at once.
  for (const record of db.sqlite.prepare(sql).iterate(...params)) {
    yield toHistoryRow(record as HistoryRecord);
  }
}

export function countHistory(db: JournalDatabase): number {
  return (db.statement("SELECT count(*) AS n FROM history").get() as { n: number }).n;
}

export function pruneHistory(db: JournalDatabase, before: number, maxRows: number): number {
  return db.transaction(() => {
    let removed = db.statement("DELETE FROM history WHERE at < ?").run(before).changes;
    // Rows are appended with ever larger ids and only the oldest are ever removed, so the newest `maxRows`
    // are those above the newest id less `maxRows`; counting them with OFFSET would walk them all.
    const newest = (db.statement("SELECT max(id) AS id FROM history").get() as { id: number | null }).id;
    if (newest !== null && newest > maxRows) {
      removed += db.statement("DELETE FROM history WHERE id <= ?").run(newest - maxRows).changes;
    }
    return removed;
  });
}
