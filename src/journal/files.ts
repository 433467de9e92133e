/** The `files` table: per set, every path as it was when local and remote last agreed. */
import { CONFLICT_MARK } from "../config/names.js";
import type { EntryType } from "../scan/entry.js";
import type { JournalDatabase } from "./database.js";
import type { EntryCounts, FileRow } from "./types.js";

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

const FILE_COLUMNS =
  "set_name, path, type, size, mtime_ms, mtime_ns, ctime_ns, inode, mode, owner, grp, sha256, target, " +
  "remote_etag, remote_last_modified, synced_at";

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

export function getFile(db: JournalDatabase, set: string, path: string): FileRow | undefined {
  const record = db
    .statement(`SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path = ?`, true)
    .get(set, path) as FileRecord | undefined;
  return record && toFileRow(record);
}

export function* filesInOrder(
  db: JournalDatabase,
  set: string,
  afterPath: string,
  pageSize: number,
): Generator<FileRow> {
  const page = db.statement(
    `SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path > ? ORDER BY path LIMIT ?`,
    true,
  );
  yield* paged((after) => page.all(set, after, pageSize) as FileRecord[], afterPath, pageSize);
}

export function* filesUnder(
  db: JournalDatabase,
  set: string,
  dirKey: string,
  pageSize: number,
): Generator<FileRow> {
  if (dirKey === "") {
    yield* filesInOrder(db, set, "", pageSize);
    return;
  }
  if (!dirKey.endsWith("/")) throw new TypeError(`filesUnder needs a directory key, got ${dirKey}`);
  // Every key starting with "d/" sorts in ["d/", "d0"): "0" is the byte after "/".
  const end = dirKey.slice(0, -1) + "0";
  const first = db.statement(
    `SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path >= ? AND path < ? ORDER BY path LIMIT ?`,
    true,
  );
  const next = db.statement(
    `SELECT ${FILE_COLUMNS} FROM files WHERE set_name = ? AND path > ? AND path < ? ORDER BY path LIMIT ?`,
    true,
  );
  yield* paged(
    (after) =>
      (after === null
        ? first.all(set, dirKey, end, pageSize)
        : next.all(set, after, end, pageSize)) as FileRecord[],
    null,
    pageSize,
  );
}

function* paged(
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

export function putFile(db: JournalDatabase, row: FileRow): void {
  // Inode numbers are unsigned 64-bit (overlayfs sets the top bits); SQLite integers are signed.
  db.statement(
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

export function deleteFile(db: JournalDatabase, set: string, path: string): void {
  db.statement("DELETE FROM files WHERE set_name = ? AND path = ?").run(set, path);
}

export function remoteVersionsBetween(
  db: JournalDatabase,
  set: string,
  firstPath: string,
  lastPath: string,
): Map<string, { etag: string | null; lastModified: number | null }> {
  const records = db
    .statement(
      "SELECT path, remote_etag, remote_last_modified FROM files " +
        "WHERE set_name = ? AND path >= ? AND path <= ? ORDER BY path",
    )
    .all(set, firstPath, lastPath) as {
    path: string;
    remote_etag: string | null;
    remote_last_modified: number | null;
  }[];
  return new Map(records.map((r) => [r.path, { etag: r.remote_etag, lastModified: r.remote_last_modified }]));
}

export function hasUnlistedRowAfter(
  db: JournalDatabase,
  set: string,
  afterPath: string,
  lookahead: number,
): boolean {
  return (
    db
      .statement(
        "SELECT 1 FROM (SELECT remote_etag, remote_last_modified FROM files " +
          "WHERE set_name = ? AND path > ? ORDER BY path LIMIT ?) " +
          "WHERE remote_etag IS NOT NULL AND remote_last_modified IS NULL LIMIT 1",
      )
      .get(set, afterPath, lookahead) !== undefined
  );
}

export function setRemoteLastModified(
  db: JournalDatabase,
  set: string,
  updates: readonly (readonly [path: string, lastModified: number])[],
): void {
  const update = db.statement("UPDATE files SET remote_last_modified = ? WHERE set_name = ? AND path = ?");
  db.transaction(() => {
    for (const [path, lastModified] of updates) update.run(lastModified, set, path);
  });
}

export function countByType(db: JournalDatabase, set: string): EntryCounts {
  const rows = db
    .statement("SELECT type, count(*) AS n FROM files WHERE set_name = ? GROUP BY type")
    .all(set) as { type: EntryType; n: number }[];
  const count = (type: EntryType) => rows.find((row) => row.type === type)?.n ?? 0;
  return { files: count("file"), directories: count("dir"), symlinks: count("symlink") };
}

export function conflictCopyFiles(
  db: JournalDatabase,
  set: string | undefined,
): { set: string; path: string; syncedAt: number }[] {
  const pattern = `%${CONFLICT_MARK}%`;
  const rows = (
    set === undefined
      ? db
          .statement("SELECT set_name, path, synced_at FROM files WHERE type = 'file' AND path LIKE ?")
          .all(pattern)
      : db
          .statement(
            "SELECT set_name, path, synced_at FROM files WHERE set_name = ? AND type = 'file' AND path LIKE ?",
          )
          .all(set, pattern)
  ) as { set_name: string; path: string; synced_at: number | bigint }[];
  return rows.map((r) => ({ set: r.set_name, path: r.path, syncedAt: Number(r.synced_at) }));
}
