/** The journal or the state directory cannot be used; the message says why and what to do. */
export class JournalError extends Error {
  override name = "JournalError";
}

const DAMAGE_CODES = new Set(["SQLITE_CORRUPT", "SQLITE_NOTADB"]);

/** What to do about an error that says the journal file is damaged (found mid-run), or undefined. */
export function journalDamageHint(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== "string" || !DAMAGE_CODES.has(code)) return undefined;
  return "the journal is damaged: stop the agent and run `fedsync rebuild-journal`";
}
