export type DatastoreErrorKind =
  | "auth"
  | "no-bucket"
  | "unreachable"
  | "tls"
  | "precondition"
  | "not-found"
  /** The server does not offer the operation (bucket notifications on plain S3). */
  | "unsupported"
  | "other";

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
