import type { JournalDatabase } from "./database.js";
import type { PendingRow } from "./types.js";

interface PendingRecord {
  set_name: string;
  path: string;
  reason: string;
  first_seen: number;
}

export function addPending(
  db: JournalDatabase,
  set: string,
  path: string,
  reason: string,
  now: number,
): void {
  db.statement(
    "INSERT INTO pending (set_name, path, reason, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) " +
      "ON CONFLICT (set_name, path) DO UPDATE SET last_seen = excluded.last_seen, reason = CASE " +
      "WHEN instr(',' || reason || ',', ',' || excluded.reason || ',') > 0 THEN reason " +
      "ELSE reason || ',' || excluded.reason END",
  ).run(set, path, reason, now, now);
}

export function pendingPaths(db: JournalDatabase, set: string, limit: number): PendingRow[] {
  const records = db
    .statement(
      "SELECT set_name, path, reason, first_seen FROM pending WHERE set_name = ? ORDER BY path LIMIT ?",
    )
    .all(set, limit) as PendingRecord[];
  return records.map((r) => ({ set: r.set_name, path: r.path, reason: r.reason, firstSeen: r.first_seen }));
}

export function removePending(
  db: JournalDatabase,
  set: string,
  paths: readonly string[],
  seenBefore: number | undefined,
): void {
  const remove =
    seenBefore === undefined
      ? db.statement("DELETE FROM pending WHERE set_name = ? AND path = ?")
      : db.statement("DELETE FROM pending WHERE set_name = ? AND path = ? AND last_seen < ?");
  db.transaction(() => {
    for (const path of paths) {
      if (seenBefore === undefined) remove.run(set, path);
      else remove.run(set, path, seenBefore);
    }
  });
}

export function countPending(db: JournalDatabase, set: string): number {
  return (db.statement("SELECT count(*) AS n FROM pending WHERE set_name = ?").get(set) as { n: number }).n;
}
