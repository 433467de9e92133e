import type { JournalDatabase } from "./database.js";
import type { SetState } from "./types.js";

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
  applied_through: number | null;
}

export type SetStatePatch = Partial<Omit<SetState, "name">>;

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
  appliedThrough: "applied_through",
};

export function getSetState(db: JournalDatabase, name: string): SetState {
  const r = db.statement("SELECT * FROM sets WHERE name = ?").get(name) as SetRecord | undefined;
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
    appliedThrough: r?.applied_through ?? null,
  };
}

export function updateSetState(db: JournalDatabase, name: string, patch: SetStatePatch): void {
  const fields = (Object.keys(SET_COLUMNS) as (keyof SetStatePatch)[]).filter((f) => patch[f] !== undefined);
  db.transaction(() => {
    db.statement("INSERT INTO sets (name) VALUES (?) ON CONFLICT (name) DO NOTHING").run(name);
    if (fields.length === 0) return;
    const assignments = fields.map((f) => `${SET_COLUMNS[f]} = ?`).join(", ");
    db.statement(`UPDATE sets SET ${assignments} WHERE name = ?`).run(...fields.map((f) => patch[f]), name);
  });
}

export function deleteSet(db: JournalDatabase, set: string): void {
  db.transaction(() => {
    for (const table of ["files", "pending", "conflicts", "applied_log", "applied_tombstones", "outbox"]) {
      db.statement(`DELETE FROM ${table} WHERE set_name = ?`).run(set);
    }
    db.statement("DELETE FROM sets WHERE name = ?").run(set);
  });
}
