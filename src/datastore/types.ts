import type { Readable } from "node:stream";
import type { DatastoreError } from "./errors.js";

/** An object as a listing or a stat returns it. Keys are full object keys. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** ETag without quotes. */
  etag: string;
  lastModified: Date;
  /**
   * User metadata, keys lower-case without the `x-amz-meta-` prefix, values as strings. Present on stat and
   * on metadata listings; undefined when the listing could not include it.
   */
  metadata?: Record<string, string>;
  /**
   * The version id, on a stat of an object written while the bucket's versioning was enabled (listings do not
   * carry it).
   */
  versionId?: string;
}

/** One version of a key in a bucket with versioning (or the only one, `null`, in a bucket without). */
export interface ObjectVersion extends ObjectInfo {
  versionId: string;
  isLatest: boolean;
  /** A delete marker: the key was deleted at `lastModified`; it has no bytes and no metadata. */
  deleteMarker: boolean;
}

/** How far the server's clock is from this machine's, as measured on the latest answer. */
export interface ServerClock {
  /** Server time minus local time. */
  offsetMs: number;
  /** The true offset lies within offsetMs ± uncertaintyMs (the Date header's one-second steps, the round trip). */
  uncertaintyMs: number;
}

/** A bucket's versioning state; a suspended bucket still holds the versions made while it was enabled. */
export type BucketVersioning = "enabled" | "suspended" | "off";

export interface PutResult {
  etag: string;
  conditionOverruled?: true;
}

export interface PutCondition {
  /** Only create: fail with PreconditionFailedError if the key exists (If-None-Match: *). */
  ifNoneMatch?: boolean;
  /** Only replace this version: fail with PreconditionFailedError unless the ETag matches (If-Match). */
  ifMatch?: string;
}

export interface ListOptions {
  /** Start listing after this full key. */
  startAfter?: string;
  /** Ask for user metadata in the listing (MinIO's `metadata=true` extension) when the server supports it. */
  withMetadata?: boolean;
  /**
   * List only one level (delimiter `/`); default recursive. Deeper levels then appear as one entry each,
   * their common prefix (ending in `/`) with size 0 and an empty ETag, in key order among the objects.
   */
  delimiter?: boolean;
}

/** One object event of a notification stream. */
export interface BucketEvent {
  /** The object key exactly as the server wrote it: untrusted, to be validated like a listed key. */
  key: string;
  removed: boolean;
  /** ETag (without quotes) of the object created; absent for a removal. */
  etag?: string;
  /** User metadata of the object created, keys as in ObjectInfo.metadata; untrusted like the key. */
  metadata?: Record<string, string>;
}

export interface ListenHandlers {
  /** The server accepted the subscription: changes from now on are reported. */
  onOpen(): void;
  /** The events of one read from the stream, in the server's order. */
  onEvents(events: BucketEvent[]): void;
  /** Once, when the stream is over; never after close(). */
  onClose(error: DatastoreError): void;
}

/**
 * The datastore seam: everything the engine needs from a bucket. The MinIO implementation is the only one;
 * the engine never imports the minio client.
 */
export interface Datastore {
  readonly bucket: string;
  /** Fails with a DatastoreError of kind auth, no-bucket, unreachable or tls when the bucket cannot be used. */
  check(): Promise<void>;
  /** Objects under `prefix`, sorted by key (UTF-8 byte order), fetched a page at a time. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  /** One listing request: up to 1,000 objects under `prefix`; `truncated` when more follow the last. */
  listOnce(prefix: string, options?: ListOptions): Promise<{ items: ObjectInfo[]; truncated: boolean }>;
  /** Null when the key does not exist. Metadata is always present. */
  stat(key: string): Promise<ObjectInfo | null>;
  /**
   * Streams `body` (exactly `size` bytes) with user metadata; multipart above the part size. Returns the ETag.
   * A stream body is consumed, or destroyed on failure. A body that cannot be read fails with its own error
   * (or BodySizeError when it holds more or fewer than `size` bytes), not with a DatastoreError.
   * `conditionOverruled` when the server refused the condition although its own HEAD showed that it held
   * (see MinioUploads), and the write was made after that check without it.
   */
  put(
    key: string,
    body: Readable | Buffer,
    size: number,
    metadata: Record<string, string>,
    condition?: PutCondition,
  ): Promise<PutResult>;
  /**
   * The object's bytes. Fails with NotFoundError when the key does not exist, and with
   * PreconditionFailedError when `expectedETag` is given and the object is another version now.
   */
  get(key: string, expectedETag?: string): Promise<Readable>;
  /** Deletes keys in batches; a key that is already gone is not an error. */
  delete(keys: string[]): Promise<void>;
  /**
   * Deletes `key` only while it is still `expected` (what a stat returned), so a version written by another
   * machine since is not lost: PreconditionFailedError otherwise. Checked only where versioning is enabled;
   * elsewhere the deletion follows the caller's stat unconditionally (see delete-current.ts).
   */
  deleteIfCurrent(key: string, expected: ObjectInfo): Promise<void>;
  /**
   * Follows object creations and removals under `prefix` as the server reports them (MinIO's
   * ListenBucketNotification). Best effort: nothing is replayed. `onClose` is called once when the stream
   * ends, breaks, goes silent or is refused (kind `unsupported` when the server has no such API, `auth` when
   * the credentials may not use it), after which the caller decides whether to listen again.
   */
  listen(prefix: string, handlers: ListenHandlers): { close(): void };
  /**
   * Whether the server offers MinIO's bucket notification stream (ListenBucketNotification); fails with a
   * DatastoreError when the request is refused.
   */
  notificationsAvailable(): Promise<boolean>;
  /** The server's clock against this machine's, from the Date header of the latest answer, if any came. */
  serverClock(): ServerClock | undefined;
  /** Whether the bucket keeps object versions. */
  versioning(): Promise<BucketVersioning>;
  /**
   * Every version of exactly `key`, newest first, delete markers included. Metadata is present on each
   * version that is not a delete marker.
   */
  listVersions(key: string): Promise<ObjectVersion[]>;
  /** The bytes of one version. Fails with NotFoundError when the key or version does not exist. */
  getVersion(key: string, versionId: string): Promise<Readable>;
  /** Requests made since creation, by S3 operation name (for tests and benchmarks). */
  requestCounts(): Record<string, number>;
}
