import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { CONFLICT_MARK } from "../config/names.js";
import type { EntryType } from "../scan/entry.js";
import { JournalError } from "./errors.js";
import {
  HISTORY_COLUMNS,
  HISTORY_MAX_ROWS,
  historyQuery,
  toHistoryRow,
  type HistoryFilter,
  type HistoryRecord,
  type HistoryRow,
  type NewHistoryRow,
} from "./history.js";
import { checkSchemaForReading, loadMigrations, migrate } from "./migrations.js";
import type { ConflictRow, EntryCounts, FileRow, OutgoingChange, PendingRow, SetState } from "./types.js";

export const JOURNAL_FILE = "journal.db";

export interface OpenOptions {
  /** For readers such as `fedsync status` while the agent runs: no migrations, no writes. */
  readonly?: boolean;
}

/**
 * A `files` row as read in raw mode with safe integers, in FILE_COLUMNS order: every INTEGER column arrives as
 * a bigint. Arrays, because building an object per row costs better-sqlite3 about as much as the read itself.
 */
type FileRecord = [
  set_name: string,
  path: string,
  type: EntryType,
  size: bigint,
  mtime_ms: bigint,
  mtime_ns: bigint,
  ctime_ns: bigint,
  inode: bigint,
  mode: bigint,
  owner: string | null,
  grp: string | null,
  sha256: string | null,
  target: string | null,
  remote_etag: string | null,
  remote_last_modified: bigint | null,
  synced_at: bigint,
];

interface PendingRecord {
  set_name: string;
  path: string;
  reason: string;
  first_seen: number;
}

interface SetRecord {
  name: string;
  last_full_pass: number | null;
  last_log_key: string | null;
  last_good_sync: number | null;
  last_error: string | null;
  last_pass_ms: number | null;
  root_dev: string | null;
  root_ino: string | null;
  mounts: string | null;
  last_full_pass_started: number | null;
  listed_ignore_rules: string | null;
}

interface ConflictRecord {
  id: number;
  set_name: string;
  path: string;
  copy_path: string;
  winner: string;
  loser: string;
  at: number;
}

type SetStatePatch = Partial<Omit<SetState, "name">>;

const SET_COLUMNS: Record<keyof SetStatePatch, string> = {
  lastFullPass: "last_full_pass",
  lastLogKey: "last_log_key",
  lastGoodSync: "last_good_sync",
  lastError: "last_error",
  lastPassMs: "last_pass_ms",
  rootDev: "root_dev",
  rootIno: "root_ino",
  mounts: "mounts",
  lastFullPassStarted: "last_full_pass_started",
  listedIgnoreRules: "listed_ignore_rules",
};

const FILE_COLUMNS =
  "set_name, path, type, size, mtime_ms, mtime_ns, ctime_ns, inode, mode, owner, grp, sha256, target, " +
  "remote_etag, remote_last_modified, synced_at";

const CORRUPT_CODES = new Set(["SQLITE_NOTADB", "SQLITE_CORRUPT"]);

function toFileRow(r: FileRecord): FileRow {
  return {
    set: r[0],
    path: r[1],
    type: r[2],
    size: Number(r[3]),
    mtimeMs: Number(r[4]),
    mtimeNs: r[5],
    ctimeNs: r[6],
    inode: BigInt.asUintN(64, r[7]),
    mode: Number(r[8]),
    owner: r[9],
    group: r[10],
    sha256: r[11],
    target: r[12],
    remoteEtag: r[13],
    remoteLastModified: r[14] === null ? null : Number(r[14]),
    syncedAt: Number(r[15]),
  };
}

const INT64_MAX = 2n ** 63n - 1n;

function clampInt64(value: bigint): bigint {
  return value > INT64_MAX ? INT64_MAX : value < -INT64_MAX ? -INT64_MAX : value;
}

function toOpenError(error: unknown, file: string): JournalError {
  if (error instanceof JournalError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Database.SqliteError && CORRUPT_CODES.has(error.code)) {
    return new JournalError(`journal ${file} is corrupt: ${message}; run \`fedsync rebuild-journal\``, {
      cause: error,
    });
  }
  return new JournalError(`cannot open journal ${file}: ${message}`, { cause: error });
}

const JOURNAL_PARTS = ["", "-wal", "-shm"];

/**
 * Puts the journal built in `fromDir` in the place of the state dir's, keeping the previous one (if any) beside
 * it as `journal.db.replaced-<time>`. Needs the state lock, and both journals closed.
 */
export function replaceJournal(stateDir: string, fromDir: string): { target: string; keptAs?: string } {
  const target = join(stateDir, JOURNAL_FILE);
  const keptAs = `${target}.replaced-${new Date().toISOString().replace(/[-:.]/g, "")}`;
  let kept = false;
  for (const part of JOURNAL_PARTS) {
    if (!existsSync(target + part)) continue;
    renameSync(target + part, keptAs + part);
    kept = true;
  }
  for (const part of JOURNAL_PARTS) {
    const built = join(fromDir, JOURNAL_FILE + part);
    if (existsSync(built)) renameSync(built, target + part);
  }
  return { target, ...(kept && { keptAs }) };
}

/**
 * The journal: per set, every path as it was when local and remote last agreed, plus the durable queue of
 * dirty paths, per-set pass state, the conflict history and the change-log records already applied.
 * All methods are synchronous; `transaction` groups writes.
 */
export class Journal {
  private readonly statements = new Map<string, Database.Statement>();
  private fileWriteCount = 0;

  private constructor(
    private readonly db: Database.Database,
    readonly file: string,
    readonly readonly: boolean,
  ) {}

  /** An empty journal that lives in memory only: what a dry run on a machine that never synced plans against. */
  static openInMemory(): Journal {
    const db = new Database(":memory:");
    migrate(db, loadMigrations());
    return new Journal(db, ":memory:", false);
  }

  static open(stateDir: string, options: OpenOptions = {}): Journal {
    const readonly = options.readonly ?? false;
    const file = join(stateDir, JOURNAL_FILE);
    if (readonly && !existsSync(file)) {
      throw new JournalError(`no journal at ${file}: the agent has not run with this state_dir yet`);
    }
    if (!readonly) mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const migrations = loadMigrations();
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { readonly, fileMustExist: readonly });
      db.pragma("busy_timeout = 5000");
      if (readonly) {
        checkSchemaForReading(db, migrations);
      } else {
        db.pragma("journal_mode = WAL");
        db.pragma("synchronous = NORMAL");
        migrate(db, migrations);
      }
      return new Journal(db, file, readonly);
    } catch (error) {
      db?.close();
      throw toOpenError(error, file);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Runs `fn` in one transaction (a savepoint when nested); a throw rolls it back. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** A cached statement; `fileRecords` ones return FileRecord arrays. */
  private statement(sql: string, fileRecords = false): Database.Statement {
    const cacheKey = (fileRecords ? "rows:" : "objects:") + sql;
    let statement = this.statements.get(cacheKey);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (fileRecords) statement.safeIntegers(true).raw(true);
      this.statements.set(cacheKey, statement);
    }
    return statement;
  }

  // files

  getFile(set: string, path: string): FileRow | undefined {
    const record = this.statement(
      `SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path = ?`,
      true,
    ).get(set, path) as FileRecord | undefined;
    return record && toFileRow(record);
  }

  /**
   * Every row of a set with path > `afterPath`, in UTF-8 byte order. Reads a page at a time, so the caller
   * may write to the journal between rows; a page is read once, so writes to rows of the page being
   * yielded are not seen, while rows written beyond it are.
   */
  *filesInOrder(set: string, afterPath = "", pageSize = 1000): Generator<FileRow> {
    const page = this.statement(
      `SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path > ? ORDER BY path LIMIT ?`,
      true,
    );
    yield* this.paged((after) => page.all(set, after, pageSize) as FileRecord[], afterPath, pageSize);
  }

  /** The directory row `dirKey` (a key ending in `/`) and every row under it, in order, paged. */
  *filesUnder(set: string, dirKey: string, pageSize = 1000): Generator<FileRow> {
    if (dirKey === "") {
      yield* this.filesInOrder(set, "", pageSize);
      return;
    }
    if (!dirKey.endsWith("/")) throw new TypeError(`filesUnder needs a directory key, got ${dirKey}`);
    // Every key starting with "d/" sorts in ["d/", "d0"): "0" is the byte after "/".
    const end = dirKey.slice(0, -1) + "0";
    const first = this.statement(
      `SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path >= ? AND path < ? ORDER BY path LIMIT ?`,
      true,
    );
    const next = this.statement(
      `SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path > ? AND path < ? ORDER BY path LIMIT ?`,
      true,
    );
    yield* this.paged(
      (after) =>
        (after === null
          ? first.all(set, dirKey, end, pageSize)
          : next.all(set, after, end, pageSize)) as FileRecord[],
      null,
      pageSize,
    );
  }

  private *paged(
    readPage: (after: string | null) => FileRecord[],
    start: string | null,
    pageSize: number,
  ): Generator<FileRow> {
    let after = start;
    while (true) {
      const records = readPage(after);
      for (const record of records) yield toFileRow(record);
      if (records.length < pageSize) return;
      after = records[records.length - 1]![1];
    }
  }

  /** How many times a `files` row was written or deleted through this instance: a pass that wrote none can reuse the counts it began with. */
  get fileWrites(): number {
    return this.fileWriteCount;
  }

  putFile(row: FileRow): void {
    this.fileWriteCount++;
    // Inode numbers are unsigned 64-bit (overlayfs sets the top bits); SQLite integers are signed.
    this.statement(
      `INSERT OR REPLACE INTO files (${FILE_COLUMNS}) VALUES ` +
        "(@set, @path, @type, @size, @mtimeMs, @mtimeNs, @ctimeNs, @inode, @mode, @owner, @group, @sha256, " +
        "@target, @remoteEtag, @remoteLastModified, @syncedAt)",
    ).run({
      ...row,
      inode: BigInt.asIntN(64, row.inode),
      // A time after 2262 (ext4 holds them until 2446) has no signed 64-bit nanosecond count: the stored one
      // then never matches the file's, which only costs a re-hash.
      mtimeNs: clampInt64(row.mtimeNs),
      ctimeNs: clampInt64(row.ctimeNs),
    });
  }

  deleteFile(set: string, path: string): void {
    this.fileWriteCount++;
    this.statement("DELETE FROM files WHERE set_name = ? AND path = ?").run(set, path);
  }

  /**
   * The bucket version (ETag and Last-Modified) each row between `firstPath` and `lastPath` (inclusive)
   * last agreed with, by path: what a listing is checked against before it is fetched again with metadata.
   */
  remoteVersionsBetween(
    set: string,
    firstPath: string,
    lastPath: string,
  ): Map<string, { etag: string | null; lastModified: number | null }> {
    const records = this.statement(
      "SELECT path, remote_etag, remote_last_modified FROM files " +
        "WHERE set_name = ? AND path >= ? AND path <= ? ORDER BY path",
    ).all(set, firstPath, lastPath) as {
      path: string;
      remote_etag: string | null;
      remote_last_modified: number | null;
    }[];
    return new Map(
      records.map((r) => [r.path, { etag: r.remote_etag, lastModified: r.remote_last_modified }]),
    );
  }

  /**
   * Whether one of the next `lookahead` rows after `afterPath` agreed with an object whose Last-Modified the
   * journal has not seen yet (a row written by an upload, until a listing shows it).
   */
  hasUnlistedRowAfter(set: string, afterPath: string, lookahead: number): boolean {
    return (
      this.statement(
        "SELECT 1 FROM (SELECT remote_etag, remote_last_modified FROM files " +
          "WHERE set_name = ? AND path > ? ORDER BY path LIMIT ?) " +
          "WHERE remote_etag IS NOT NULL AND remote_last_modified IS NULL LIMIT 1",
      ).get(set, afterPath, lookahead) !== undefined
    );
  }

  /** Records the bucket's own Last-Modified of objects that still match their rows, in one transaction. */
  setRemoteLastModified(
    set: string,
    updates: readonly (readonly [path: string, lastModified: number])[],
  ): void {
    const update = this.statement(
      "UPDATE files SET remote_last_modified = ? WHERE set_name = ? AND path = ?",
    );
    this.transaction(() => {
      for (const [path, lastModified] of updates) update.run(lastModified, set, path);
    });
  }

  /** A set's entries by type. */
  countByType(set: string): EntryCounts {
    const rows = this.statement("SELECT type, count(*) AS n FROM files WHERE set_name = ? GROUP BY type").all(
      set,
    ) as { type: EntryType; n: number }[];
    const count = (type: EntryType) => rows.find((row) => row.type === type)?.n ?? 0;
    return { files: count("file"), directories: count("dir"), symlinks: count("symlink") };
  }

  /** Forgets a set entirely: files, pending paths, state, conflicts, applied log records and deletion marks, unpublished change records. */
  deleteSet(set: string): void {
    this.fileWriteCount++;
    this.transaction(() => {
      for (const table of ["files", "pending", "conflicts", "applied_log", "applied_tombstones", "outbox"]) {
        this.statement(`DELETE FROM ${table} WHERE set_name = ?`).run(set);
      }
      this.statement("DELETE FROM sets WHERE name = ?").run(set);
    });
  }

  // pending

  /**
   * Marks a path dirty. Marking it again keeps `firstSeen`, refreshes the time it was last seen, and adds
   * the reason to the row's comma-separated list of distinct reasons.
   */
  addPending(set: string, path: string, reason: string, now: number = Date.now()): void {
    this.statement(
      "INSERT INTO pending (set_name, path, reason, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) " +
        "ON CONFLICT (set_name, path) DO UPDATE SET last_seen = excluded.last_seen, reason = CASE " +
        "WHEN instr(',' || reason || ',', ',' || excluded.reason || ',') > 0 THEN reason " +
        "ELSE reason || ',' || excluded.reason END",
    ).run(set, path, reason, now, now);
  }

  /** Up to `limit` dirty paths, in path order. */
  pendingPaths(set: string, limit: number): PendingRow[] {
    const records = this.statement(
      "SELECT set_name, path, reason, first_seen FROM pending WHERE set_name = ? ORDER BY path LIMIT ?",
    ).all(set, limit) as PendingRecord[];
    return records.map((r) => ({ set: r.set_name, path: r.path, reason: r.reason, firstSeen: r.first_seen }));
  }

  /**
   * Removes dirty paths once handled. With `seenBefore` (a `Date.now()` taken before the paths were
   * read), a path marked again at or after that time stays pending, so an event that arrived while the
   * path was being handled is not lost.
   */
  removePending(set: string, paths: readonly string[], seenBefore?: number): void {
    const remove =
      seenBefore === undefined
        ? this.statement("DELETE FROM pending WHERE set_name = ? AND path = ?")
        : this.statement("DELETE FROM pending WHERE set_name = ? AND path = ? AND last_seen < ?");
    this.transaction(() => {
      for (const path of paths) {
        if (seenBefore === undefined) remove.run(set, path);
        else remove.run(set, path, seenBefore);
      }
    });
  }

  countPending(set: string): number {
    return (this.statement("SELECT count(*) AS n FROM pending WHERE set_name = ?").get(set) as { n: number })
      .n;
  }

  // sets

  getSetState(name: string): SetState {
    const r = this.statement("SELECT * FROM sets WHERE name = ?").get(name) as SetRecord | undefined;
    return {
      name,
      lastFullPass: r?.last_full_pass ?? null,
      lastLogKey: r?.last_log_key ?? null,
      lastGoodSync: r?.last_good_sync ?? null,
      lastError: r?.last_error ?? null,
      lastPassMs: r?.last_pass_ms ?? null,
      rootDev: r?.root_dev ?? null,
      rootIno: r?.root_ino ?? null,
      mounts: r?.mounts ?? null,
      lastFullPassStarted: r?.last_full_pass_started ?? null,
      listedIgnoreRules: r?.listed_ignore_rules ?? null,
    };
  }

  /** Sets the fields present in `patch` (`null` clears one); absent fields keep their value. */
  updateSetState(name: string, patch: SetStatePatch): void {
    const fields = (Object.keys(SET_COLUMNS) as (keyof SetStatePatch)[]).filter(
      (f) => patch[f] !== undefined,
    );
    this.transaction(() => {
      this.statement("INSERT INTO sets (name) VALUES (?) ON CONFLICT (name) DO NOTHING").run(name);
      if (fields.length === 0) return;
      const assignments = fields.map((f) => `${SET_COLUMNS[f]} = ?`).join(", ");
      this.statement(`UPDATE sets SET ${assignments} WHERE name = ?`).run(
        ...fields.map((f) => patch[f]),
        name,
      );
    });
  }

  // applied tombstones

  /** Notes that this machine applied the deletion mark of `path` whose object was modified at `modified`. */
  recordAppliedTombstone(set: string, path: string, modified: number, at: number): void {
    this.statement(
      "INSERT INTO applied_tombstones (set_name, path, tombstone_modified, applied_at) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT (set_name, path) DO UPDATE SET tombstone_modified = excluded.tombstone_modified, " +
        "applied_at = excluded.applied_at",
    ).run(set, path, modified, at);
  }

  /** The Last-Modified of the deletion mark of `path` this machine last applied, if any. */
  appliedTombstone(set: string, path: string): number | undefined {
    const row = this.statement(
      "SELECT tombstone_modified FROM applied_tombstones WHERE set_name = ? AND path = ?",
    ).get(set, path) as { tombstone_modified: number } | undefined;
    return row?.tombstone_modified;
  }

  forgetAppliedTombstone(set: string, path: string): void {
    this.statement("DELETE FROM applied_tombstones WHERE set_name = ? AND path = ?").run(set, path);
  }

  /** Drops the notes of deletion marks applied before `before` (the marks themselves have expired). */
  pruneAppliedTombstones(set: string, before: number): number {
    return this.statement("DELETE FROM applied_tombstones WHERE set_name = ? AND applied_at < ?").run(
      set,
      before,
    ).changes;
  }

  // conflicts

  addConflict(row: Omit<ConflictRow, "id">): number {
    const result = this.statement(
      "INSERT INTO conflicts (set_name, path, copy_path, winner, loser, at) VALUES (?, ?, ?, ?, ?, ?)",
    ).run(row.set, row.path, row.copyPath, row.winner, row.loser, row.at);
    return Number(result.lastInsertRowid);
  }

  /** Files of a set (or every set) whose name marks them as conflict copies, wherever they were made. */
  conflictCopyFiles(set?: string): { set: string; path: string; syncedAt: number }[] {
    const pattern = `%${CONFLICT_MARK}%`;
    const rows = (
      set === undefined
        ? this.statement(
            "SELECT set_name, path, synced_at FROM files WHERE type = 'file' AND path LIKE ?",
          ).all(pattern)
        : this.statement(
            "SELECT set_name, path, synced_at FROM files WHERE set_name = ? AND type = 'file' AND path LIKE ?",
          ).all(set, pattern)
    ) as { set_name: string; path: string; synced_at: number | bigint }[];
    return rows.map((r) => ({ set: r.set_name, path: r.path, syncedAt: Number(r.synced_at) }));
  }

  /** Conflicts, oldest first; of one set when `set` is given. */
  listConflicts(set?: string): ConflictRow[] {
    const records = (
      set === undefined
        ? this.statement("SELECT * FROM conflicts ORDER BY at, id").all()
        : this.statement("SELECT * FROM conflicts WHERE set_name = ? ORDER BY at, id").all(set)
    ) as ConflictRecord[];
    return records.map((r) => ({
      id: r.id,
      set: r.set_name,
      path: r.path,
      copyPath: r.copy_path,
      winner: r.winner,
      loser: r.loser,
      at: r.at,
    }));
  }

  // change-log records not yet published (the outbox)

  /** Notes a change about to be written to the bucket; returns its id for `changeWritten`. */
  noteChange(set: string, change: OutgoingChange): number {
    const info = this.statement(
      "INSERT INTO outbox (set_name, path, op, sha256, etag) VALUES (?, ?, ?, ?, ?)",
    ).run(set, change.path, change.op, change.sha256 ?? null, change.etag ?? null);
    return Number(info.lastInsertRowid);
  }

  /** The change is in the bucket (or its write failed): its record may be published. */
  changeWritten(id: number, etag?: string): void {
    this.statement("UPDATE outbox SET ready = 1, etag = coalesce(?, etag) WHERE id = ?").run(
      etag ?? null,
      id,
    );
  }

  /** Records ready to publish, oldest first, at most `limit`. */
  readyChanges(set: string, limit: number): (OutgoingChange & { id: number })[] {
    const rows = this.statement(
      "SELECT id, path, op, sha256, etag FROM outbox WHERE set_name = ? AND ready = 1 ORDER BY id LIMIT ?",
    ).all(set, limit) as {
      id: number;
      path: string;
      op: "put" | "delete";
      sha256: string | null;
      etag: string | null;
    }[];
    return rows.map((row) => ({
      id: row.id,
      path: row.path,
      op: row.op,
      ...(row.sha256 !== null && { sha256: row.sha256 }),
      ...(row.etag !== null && { etag: row.etag }),
    }));
  }

  /** Removes records a change-log object now holds. */
  changesPublished(ids: readonly number[]): void {
    this.transaction(() => {
      for (const id of ids) this.statement("DELETE FROM outbox WHERE id = ?").run(id);
    });
  }

  /**
   * Marks every noted change ready: called by the process that takes the state lock, so any change still in
   * flight was noted by a process that died, and may have reached the bucket.
   */
  adoptUnfinishedChanges(): number {
    return this.statement("UPDATE outbox SET ready = 1 WHERE ready = 0").run().changes;
  }

  // change-log records already applied

  markLogApplied(set: string, key: string): void {
    this.statement("INSERT OR IGNORE INTO applied_log (set_name, log_key) VALUES (?, ?)").run(set, key);
  }

  isLogApplied(set: string, key: string): boolean {
    return (
      this.statement("SELECT 1 FROM applied_log WHERE set_name = ? AND log_key = ?").get(set, key) !==
      undefined
    );
  }

  /** Forgets applied records whose key sorts before `beforeKey`; returns how many. */
  pruneAppliedLog(set: string, beforeKey: string): number {
    return this.statement("DELETE FROM applied_log WHERE set_name = ? AND log_key < ?").run(set, beforeKey)
      .changes;
  }

  // history (the audit trail)

  addHistory(row: NewHistoryRow): number {
    const result = this.statement(
      `INSERT INTO history (${HISTORY_COLUMNS.replace("id, ", "")}) VALUES ` +
        "(@at, @set, @path, @action, @origin, @sha256, @size, @detail, @trash)",
    ).run(row);
    return Number(result.lastInsertRowid);
  }

  /** Rows matching `filter`, newest first, read as the caller iterates (stop early to read less). */
  *history(filter: HistoryFilter = {}): Generator<HistoryRow> {
    const { sql, params } = historyQuery(filter);
    // Not cached: two readers of the same shape may iterate at once.
    for (const record of this.db.prepare(sql).iterate(...params)) {
      yield toHistoryRow(record as HistoryRecord);
    }
  }

  countHistory(): number {
    return (this.statement("SELECT count(*) AS n FROM history").get() as { n: number }).n;
  }

  /** Drops rows older than `before`, then the oldest beyond the newest `maxRows`; returns how many. */
  pruneHistory(before: number, maxRows: number = HISTORY_MAX_ROWS): number {
    return this.transaction(() => {
      let removed = this.statement("DELETE FROM history WHERE at < ?").run(before).changes;
      // Rows are appended with ever larger ids and only the oldest are ever removed, so the newest `maxRows`
      // are those above the newest id less `maxRows`; counting them with OFFSET would walk them all.
      const newest = (this.statement("SELECT max(id) AS id FROM history").get() as { id: number | null }).id;
      if (newest !== null && newest > maxRows) {
        removed += this.statement("DELETE FROM history WHERE id <= ?").run(newest - maxRows).changes;
      }
      return removed;
    });
  }
}
