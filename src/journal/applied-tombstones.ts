import type { JournalDatabase } from "./database.js";

export function recordAppliedTombstone(
  db: JournalDatabase,
  set: string,
  path: string,
  modified: number,
  at: number,
): void {
  db.statement(
    "INSERT INTO applied_tombstones (set_name, path, tombstone_modified, applied_at) VALUES (?, ?, ?, ?) " +
      "ON CONFLICT (set_name, path) DO UPDATE SET tombstone_modified = excluded.tombstone_modified, " +
      "applied_at = excluded.applied_at",
  ).run(set, path, modified, at);
}

export function appliedTombstone(db: JournalDatabase, set: string, path: string): number | undefined {
  const row = db
    .statement("SELECT tombstone_modified FROM applied_tombstones WHERE set_name = ? AND path = ?")
    .get(set, path) as { tombstone_modified: number } | undefined;
  return row?.tombstone_modified;
}

export function forgetAppliedTombstone(db: JournalDatabase, set: string, path: string): void {
  db.statement("DELETE FROM applied_tombstones WHERE set_name = ? AND path = ?").run(set, path);
}

export function pruneAppliedTombstones(db: JournalDatabase, set: string, before: number): number {
  return db.statement("DELETE FROM applied_tombstones WHERE set_name = ? AND applied_at < ?").run(set, before)
    .changes;
}
