export type {
  BucketEvent,
  BucketVersioning,
  Datastore,
  ListOptions,
  ObjectInfo,
  PutCondition,
  ServerClock,
} from "./types.js";
export {
  DatastoreError,
  isDatastoreUnusable,
  NotFoundError,
  PreconditionFailedError,
  type DatastoreErrorKind,
} from "./errors.js";
export { BodySizeError } from "./chunks.js";
export { createMinioDatastore } from "./minio.js";
export type { MinioDatastoreOptions } from "./minio-connection.js";
export {
  decodeEntryMeta,
  decodeTombstoneMeta,
  encodeEntryMeta,
  encodeTombstoneMeta,
  entryMetaKeys,
  tombstoneMetaKeys,
  type DecodedEntryMeta,
  type DecodedTombstoneMeta,
  type EntryMeta,
  type MetaRecord,
  type TombstoneMeta,
} from "./metadata.js";
export { eventKeyCandidates } from "./event-stream.js";
