/**
 * `credentials`: the server rejected the access key or the signature (a wrong secret); `clock`: it rejected
 * the request time; `auth`: the credentials were accepted but the key's policy does not allow the request.
 */
export type DatastoreErrorKind =
  | "credentials"
  | "clock"
  | "auth"
  | "no-bucket"
  | "unreachable"
  | "tls"
  | "precondition"
  | "not-found"
  /** The server does not offer the operation (bucket notifications on plain S3). */
  | "unsupported"
  | "other";

/** Kinds that make every request fail, not only one object's: a pass stops and the agent backs off. */
const UNUSABLE_KINDS: ReadonlySet<DatastoreErrorKind> = new Set([
  "credentials",
  "clock",
  "no-bucket",
  "unreachable",
  "tls",
]);

/** A datastore failure with a kind the engine can act on and a message safe to log (no secrets). */
export class DatastoreError extends Error {
  constructor(
    readonly kind: DatastoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DatastoreError";
  }
}

/** Whether `error` means the datastore cannot be used at all right now (as opposed to one object failing). */
export function isDatastoreUnusable(error: unknown): error is DatastoreError {
  return error instanceof DatastoreError && UNUSABLE_KINDS.has(error.kind);
}

/** A conditional put lost: someone else wrote (or created) the key first. */
export class PreconditionFailedError extends DatastoreError {
  constructor(key: string) {
    super("precondition", `conditional write of ${key} lost a race with another writer`);
    this.name = "PreconditionFailedError";
  }
}

/** The object is gone (deleted between a listing and a read, for example). */
export class NotFoundError extends DatastoreError {
  constructor(key: string) {
    super("not-found", `object ${key} does not exist`);
    this.name = "NotFoundError";
  }
}
