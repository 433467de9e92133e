import { DatastoreError, isDatastoreUnusable } from "../datastore/index.js";

const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 60_000;

/** The wait between tries at something that keeps failing: 1 s, doubling to 60 s; a success resets it. */
export class Backoff {
  private delayMs = 0;

  /** The next wait. */
  next(): number {
    this.delayMs = Math.min(MAX_DELAY_MS, Math.max(FIRST_DELAY_MS, this.delayMs * 2));
    return this.delayMs;
  }

  reset(): void {
    this.delayMs = 0;
  }
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"]);

/**
 * Whether a failed pass or check means the datastore cannot be used right now (unreachable, credentials
 * or access refused, bucket missing), so the agent waits and tries again, rather than a bug or a bad file.
 */
export function isDatastoreTrouble(error: unknown): boolean {
  if (isDatastoreUnusable(error)) return true;
  if (error instanceof DatastoreError) return error.kind === "auth";
  return NETWORK_CODES.has((error as NodeJS.ErrnoException).code ?? "");
}

const LABELS: Partial<Record<string, string>> = {
  credentials: "credentials rejected",
  clock: "request time rejected (clock skew)",
  auth: "access denied",
  "no-bucket": "bucket missing",
  tls: "TLS failed",
};

/** A few words for STATUS= and `fedsync status`: what keeps the agent from the datastore. */
export function troubleLabel(error: unknown): string {
  return (error instanceof DatastoreError && LABELS[error.kind]) || "datastore unreachable";
}

/** The one log line for the start of an outage. Datastore messages name endpoint, bucket and access key. */
export function troubleLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const label = troubleLabel(error);
  return `${label === "datastore unreachable" ? "datastore down: " : ""}${message}; retrying with backoff`;
}
