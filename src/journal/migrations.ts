import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type Database from "better-sqlite3";
import { JournalError } from "./errors.js";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** `migrations/` sits at the package root: beside `dist/` (bundled chunks) and two levels above `src/journal/`. */
export function findMigrationsDir(): string {
  const candidates = [
    resolve(import.meta.dirname, "../migrations"),
    resolve(import.meta.dirname, "../../migrations"),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, "001_initial.sql")));
  if (!found) throw new JournalError(`migrations directory not found (looked in ${candidates.join(", ")})`);
  return found;
}

export function loadMigrations(dir: string = findMigrationsDir()): Migration[] {
  const migrations: Migration[] = [];
  for (const name of readdirSync(dir)) {
    const match = /^(\d+)_[\w-]+\.sql$/.exec(name);
    if (!match) continue;
    migrations.push({ version: Number(match[1]), name, sql: readFileSync(join(dir, name), "utf8") });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 0; i < migrations.length; i++) {
    if (migrations[i]!.version !== i + 1) {
      throw new JournalError(`migrations in ${dir} must be numbered 1, 2, 3... without gaps or repeats`);
    }
  }
  return migrations;
}

const CREATE_VERSION_TABLE =
  "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)";

function hasVersionTable(db: Database.Database): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get() !==
    undefined
  );
}

export function schemaVersion(db: Database.Database): number {
  if (!hasVersionTable(db)) return 0;
  const row = db.prepare("SELECT max(version) AS version FROM schema_version").get() as {
    version: number | null;
  };
  return row.version ?? 0;
}

function refuseNewer(current: number, newest: number): void {
  if (current > newest) {
    throw new JournalError(
      `journal schema ${current} is newer than this fedsync knows (${newest}); upgrade fedsync`,
    );
  }
}

/** Applies every migration newer than the journal's schema, each in its own transaction. */
export function migrate(db: Database.Database, migrations: readonly Migration[]): void {
  const newest = migrations.at(-1)?.version ?? 0;
  db.exec(CREATE_VERSION_TABLE);
  refuseNewer(schemaVersion(db), newest);
  const record = db.prepare("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)");
  for (const migration of migrations) {
    const apply = db.transaction(() => {
      if (schemaVersion(db) >= migration.version) return;
      db.exec(migration.sql);
      record.run(migration.version, Date.now());
    });
    apply.immediate();
  }
}

/** A read-only connection cannot migrate: it only checks that the schema is the one this code reads. */
export function checkSchemaForReading(db: Database.Database, migrations: readonly Migration[]): void {
  const newest = migrations.at(-1)?.version ?? 0;
  const current = schemaVersion(db);
  refuseNewer(current, newest);
  if (current < newest) {
    throw new JournalError(
      `journal schema ${current} is older than this fedsync (${newest}); start the agent once to upgrade it`,
    );
  }
}
