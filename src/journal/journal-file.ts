import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { JournalError } from "./errors.js";
import { checkSchemaForReading, loadMigrations, migrate } from "./migrations.js";

export const JOURNAL_FILE = "journal.db";

export interface OpenOptions {
  /** For readers such as `fedsync status` while the agent runs: no migrations, no writes. */
  readonly?: boolean;
}

const CORRUPT_CODES = new Set(["SQLITE_NOTADB", "SQLITE_CORRUPT"]);

function toOpenError(error: unknown, file: string): JournalError {
  if (error instanceof JournalError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Database.SqliteError && CORRUPT_CODES.has(error.code)) {
    return new JournalError(`journal ${file} is corrupt: ${message}; run \`fedsync rebuild-journal\``, {
      cause: error,
    });
  }
  return new JournalError(`cannot open journal ${file}: ${message}`, { cause: error });
}

/** The state dir's journal database, migrated (or, read-only, checked to be readable). */
export function openJournalFile(
  stateDir: string,
  options: OpenOptions,
): { db: Database.Database; file: string } {
  const readonly = options.readonly ?? false;
  const file = join(stateDir, JOURNAL_FILE);
  if (readonly && !existsSync(file)) {
    throw new JournalError(`no journal at ${file}: the agent has not run with this state_dir yet`);
  }
  if (!readonly) mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const migrations = loadMigrations();
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly, fileMustExist: readonly });
    db.pragma("busy_timeout = 5000");
    if (readonly) {
      checkSchemaForReading(db, migrations);
    } else {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      migrate(db, migrations);
    }
    return { db, file };
  } catch (error) {
    db?.close();
    throw toOpenError(error, file);
  }
}

const JOURNAL_PARTS = ["", "-wal", "-shm"];

/**
 * Puts the journal built in `fromDir` in the place of the state dir's, keeping the previous one (if any) beside
 * it as `journal.db.replaced-<time>`. Needs the state lock, and both journals closed.
 */
export function replaceJournal(stateDir: string, fromDir: string): { target: string; keptAs?: string } {
  const target = join(stateDir, JOURNAL_FILE);
  const keptAs = `${target}.replaced-${new Date().toISOString().replace(/[-:.]/g, "")}`;
  let kept = false;
  for (const part of JOURNAL_PARTS) {
    if (!existsSync(target + part)) continue;
    renameSync(target + part, keptAs + part);
    kept = true;
  }
  for (const part of JOURNAL_PARTS) {
    const built = join(fromDir, JOURNAL_FILE + part);
    if (existsSync(built)) renameSync(built, target + part);
  }
  return { target, ...(kept && { keptAs }) };
}
