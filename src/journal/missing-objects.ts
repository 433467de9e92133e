/** Objects gone from the bucket without a deletion mark, while this machine still has their file. */
import type { JournalDatabase } from "./database.js";

/** Notes that the object of `path` is gone at `at`; returns when it was first found gone. */
export function noteMissing(db: JournalDatabase, set: string, path: string, at: number): number {
  db.statement(
    "INSERT INTO missing_objects (set_name, path, first_seen, last_seen) VALUES (?, ?, ?, ?) " +
      "ON CONFLICT (set_name, path) DO UPDATE SET last_seen = excluded.last_seen",
  ).run(set, path, at, at);
  const row = db
    .statement("SELECT first_seen FROM missing_objects WHERE set_name = ? AND path = ?")
    .get(set, path) as { first_seen: number };
  return row.first_seen;
}

/** When the object of `path` was first found gone, if it is noted. */
export function missingSince(db: JournalDatabase, set: string, path: string): number | undefined {
  const row = db
    .statement("SELECT first_seen FROM missing_objects WHERE set_name = ? AND path = ?")
    .get(set, path) as { first_seen: number } | undefined;
  return row?.first_seen;
}

export function forgetMissing(db: JournalDatabase, set: string, path: string): void {
  db.statement("DELETE FROM missing_objects WHERE set_name = ? AND path = ?").run(set, path);
}

/** Drops the notes not made again since `since` (the object came back, or the file went). */
export function pruneMissing(db: JournalDatabase, set: string, since: number): number {
  return db.statement("DELETE FROM missing_objects WHERE set_name = ? AND last_seen < ?").run(set, since)
    .changes;
}

export function countMissing(db: JournalDatabase, set: string): number {
  const row = db.statement("SELECT count(*) AS n FROM missing_objects WHERE set_name = ?").get(set) as {
    n: number;
  };
  return row.n;
}
