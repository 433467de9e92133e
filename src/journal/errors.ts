/** The journal or the state directory cannot be used; the message says why and what to do. */
export class JournalError extends Error {
  override name = "JournalError";
}
