import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { JOURNAL_FILE } from "./journal-file.js";
import { loadMigrations, schemaVersion } from "./migrations.js";

export interface JournalHealth {
  file: string;
  exists: boolean;
  /** The newest schema this fedsync knows. */
  newestSchema: number;
  /** The journal's schema version, when it could be read. */
  schema?: number;
  /** What `PRAGMA quick_check` found wrong (empty: nothing). */
  problems?: string[];
  /** Why the journal could not be read at all. */
  error?: string;
}

/** Bytes 18 and 19 of an SQLite file: the write and read format versions, 2 for WAL, 1 for a rollback journal. */
const FORMAT_VERSION_OFFSETS = [18, 19];

/**
 * Checks the journal without the state lock, writing nothing and creating nothing. While an agent has it
 * open (its -wal and -shm files exist), a read-only connection shares them. Otherwise a read-only
 * connection would create them, so an in-memory copy is read instead: a cleanly closed WAL journal holds
 * everything in its main file.
 */
export function inspectJournal(stateDir: string): JournalHealth {
  const file = join(stateDir, JOURNAL_FILE);
  const newestSchema = loadMigrations().at(-1)?.version ?? 0;
  if (!existsSync(file)) return { file, exists: false, newestSchema };
  let db: Database.Database | undefined;
  try {
    if (existsSync(`${file}-wal`) && existsSync(`${file}-shm`)) {
      db = new Database(file, { readonly: true, fileMustExist: true });
      db.pragma("busy_timeout = 5000");
    } else {
      const copy = readFileSync(file);
      // An in-memory database cannot be in WAL mode: read the copy as a rollback-journal database.
      for (const offset of FORMAT_VERSION_OFFSETS)
        if (copy.length > offset && copy[offset] === 2) copy[offset] = 1;
      db = new Database(copy, { readonly: true });
    }
    const schema = schemaVersion(db);
    const rows = db.pragma("quick_check") as { quick_check: string }[];
    const problems = rows.map((row) => row.quick_check).filter((text) => text !== "ok");
    return { file, exists: true, newestSchema, schema, problems };
  } catch (error) {
    return {
      file,
      exists: true,
      newestSchema,
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    db?.close();
  }
}
