import type Database from "better-sqlite3";

/** The journal's SQLite database, with its prepared statements cached by their SQL. */
export class JournalDatabase {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(readonly sqlite: Database.Database) {}

  /** Runs `fn` in one transaction (a savepoint when nested); a throw rolls it back. */
  transaction<T>(fn: () => T): T {
    return this.sqlite.transaction(fn)();
  }

  /** A cached statement; `fileRecords` ones return FileRecord arrays (files.ts). */
  statement(sql: string, fileRecords = false): Database.Statement {
    const cacheKey = (fileRecords ? "rows:" : "objects:") + sql;
    let statement = this.statements.get(cacheKey);
    if (!statement) {
      statement = this.sqlite.prepare(sql);
      if (fileRecords) statement.safeIntegers(true).raw(true);
      this.statements.set(cacheKey, statement);
    }
    return statement;
  }
}
