/** Change-log records: this machine's not yet published (the outbox), and others' already applied. */
import type { JournalDatabase } from "./database.js";
import type { OutgoingChange } from "./types.js";

export function noteChange(db: JournalDatabase, set: string, change: OutgoingChange): number {
  const info = db
    .statement("INSERT INTO outbox (set_name, path, op, sha256, etag) VALUES (?, ?, ?, ?, ?)")
    .run(set, change.path, change.op, change.sha256 ?? null, change.etag ?? null);
  return Number(info.lastInsertRowid);
}

export function changeWritten(db: JournalDatabase, id: number, etag: string | undefined): void {
  db.statement("UPDATE outbox SET ready = 1, etag = coalesce(?, etag) WHERE id = ?").run(etag ?? null, id);
}

export function readyChanges(
  db: JournalDatabase,
  set: string,
  limit: number,
): (OutgoingChange & { id: number })[] {
  const rows = db
    .statement(
      "SELECT id, path, op, sha256, etag FROM outbox WHERE set_name = ? AND ready = 1 ORDER BY id LIMIT ?",
    )
    .all(set, limit) as {
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

export function changesPublished(db: JournalDatabase, ids: readonly number[]): void {
  db.transaction(() => {
    for (const id of ids) db.statement("DELETE FROM outbox WHERE id = ?").run(id);
  });
}

export function adoptUnfinishedChanges(db: JournalDatabase): number {
  return db.statement("UPDATE outbox SET ready = 1 WHERE ready = 0").run().changes;
}

export function markLogApplied(db: JournalDatabase, set: string, key: string): void {
  db.statement("INSERT OR IGNORE INTO applied_log (set_name, log_key) VALUES (?, ?)").run(set, key);
}

export function isLogApplied(db: JournalDatabase, set: string, key: string): boolean {
  return (
    db.statement("SELECT 1 FROM applied_log WHERE set_name = ? AND log_key = ?").get(set, key) !== undefined
  );
}

export function pruneAppliedLog(db: JournalDatabase, set: string, beforeKey: string): number {
  return db.statement("DELETE FROM applied_log WHERE set_name = ? AND log_key < ?").run(set, beforeKey)
    .changes;
}
