/** Writes made without their condition (the bucket refused one its HEAD showed to hold), by path. */
import type { JournalDatabase } from "./database.js";

export interface UnconfirmedWrite {
  etag: string;
  writtenAt: number;
}

export function noteUnconfirmed(db: JournalDatabase, set: string, path: string, write: UnconfirmedWrite) {
  db.statement(
    "INSERT INTO unconfirmed_writes (set_name, path, etag, written_at) VALUES (?, ?, ?, ?) " +
      "ON CONFLICT (set_name, path) DO UPDATE SET etag = excluded.etag, written_at = excluded.written_at",
  ).run(set, path, write.etag, write.writtenAt);
}

export function unconfirmedWrite(
  db: JournalDatabase,
  set: string,
  path: string,
): UnconfirmedWrite | undefined {
  const row = db
    .statement("SELECT etag, written_at FROM unconfirmed_writes WHERE set_name = ? AND path = ?")
    .get(set, path) as { etag: string; written_at: number } | undefined;
  return row && { etag: row.etag, writtenAt: row.written_at };
}

export function forgetUnconfirmed(db: JournalDatabase, set: string, path: string): void {
  db.statement("DELETE FROM unconfirmed_writes WHERE set_name = ? AND path = ?").run(set, path);
}
