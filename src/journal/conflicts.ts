import type { JournalDatabase } from "./database.js";
import type { ConflictRow } from "./types.js";

interface ConflictRecord {
  id: number;
  set_name: string;
  path: string;
  copy_path: string;
  winner: string;
  loser: string;
  at: number;
}

export function addConflict(db: JournalDatabase, row: Omit<ConflictRow, "id">): number {
  const result = db
    .statement(
      "INSERT INTO conflicts (set_name, path, copy_path, winner, loser, at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .run(row.set, row.path, row.copyPath, row.winner, row.loser, row.at);
  return Number(result.lastInsertRowid);
}

export function listConflicts(db: JournalDatabase, set: string | undefined): ConflictRow[] {
  const records = (
    set === undefined
      ? db.statement("SELECT * FROM conflicts ORDER BY at, id").all()
      : db.statement("SELECT * FROM conflicts WHERE set_name = ? ORDER BY at, id").all(set)
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
