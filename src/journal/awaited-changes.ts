/** Other writers' recorded changes that the bucket did not show yet, by path. */
import type { JournalDatabase } from "./database.js";

export interface AwaitedChange {
  path: string;
  op: "put" | "delete";
  etag?: string;
  firstSeen: number;
}

/** Notes that the bucket does not show `change` yet; a different change of the path starts a new wait. */
export function awaitChange(
  db: JournalDatabase,
  set: string,
  change: Omit<AwaitedChange, "firstSeen">,
  at: number,
): void {
  db.statement(
    "INSERT INTO awaited_changes (set_name, path, op, etag, first_seen) VALUES (?, ?, ?, ?, ?) " +
      "ON CONFLICT (set_name, path) DO UPDATE SET op = excluded.op, etag = excluded.etag, " +
      "first_seen = excluded.first_seen WHERE op IS NOT excluded.op OR etag IS NOT excluded.etag",
  ).run(set, change.path, change.op, change.etag ?? null, at);
}

export function awaitedChanges(db: JournalDatabase, set: string): AwaitedChange[] {
  const rows = db
    .statement("SELECT path, op, etag, first_seen FROM awaited_changes WHERE set_name = ? ORDER BY path")
    .all(set) as { path: string; op: string; etag: string | null; first_seen: number }[];
  return rows.map((row) => ({
    path: row.path,
    op: row.op === "delete" ? "delete" : "put",
    ...(row.etag !== null && { etag: row.etag }),
    firstSeen: row.first_seen,
  }));
}

export function countAwaited(db: JournalDatabase, set: string): number {
  const row = db.statement("SELECT count(*) AS n FROM awaited_changes WHERE set_name = ?").get(set) as {
    n: number;
  };
  return row.n;
}

export function forgetAwaited(db: JournalDatabase, set: string, path: string): void {
  db.statement("DELETE FROM awaited_changes WHERE set_name = ? AND path = ?").run(set, path);
}
