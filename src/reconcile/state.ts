import { decodeEntryMeta } from "../datastore/metadata.js";
import type { ObjectInfo } from "../datastore/types.js";
import type { FileRow } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { isDirKey, type EntryType, type LocalEntry } from "../scan/entry.js";
import type { OwnerNames } from "./owners.js";

/**
 * The facts of an entry the planner compares, as the local side knows them all: each other side takes
 * those it has (the bucket's from fedsync metadata, the journal's from the row of the last agreement).
 */
export interface EntryFacts {
  type: EntryType;
  size: number;
  mtimeMs: number;
  mode: number;
  owner: string | null;
  group: string | null;
  /** Files only. */
  sha256?: string;
  /** Symlinks only. */
  target?: string;
}

/** The local side of one key, as the planner sees it: the lstat facts plus the content hash. */
export type LocalState = EntryFacts;

/** The bucket side of one key. Fields other than etag come from fedsync metadata and may be unknown. */
export interface RemoteState
  extends
    Pick<EntryFacts, "type" | "size" | "sha256" | "target">,
    Partial<Pick<EntryFacts, "mtimeMs" | "mode">> {
  etag: string;
  lastModified: number;
  owner?: string;
  group?: string;
  origin?: string;
}

/** The deletion mark of one key. */
export interface TombstoneState extends Pick<EntryFacts, "type"> {
  deletedAt: number;
  deletedBy?: string;
  /** Content hash of the deleted file (or of the symlink target); absent for directories. */
  sha256?: string;
  /**
   * This machine has met the deletion before (applied it, or a full pass went over the key after it): it
   * deletes nothing created here since.
   */
  stale?: boolean;
}

/** The journal's record of the last agreement, reduced to what the planner compares. */
export interface BaseState extends Pick<EntryFacts, "type" | "mtimeMs" | "mode" | "owner" | "group"> {
  sha256: string | null;
  target: string | null;
  /** Null when this machine kept a file that was deleted remotely (`deletions: keep`). */
  remoteEtag: string | null;
}

/** The local side of an entry from its stat, with the owners' names and the content hash when known. */
export function localStateOf(entry: LocalEntry, owners: OwnerNames, sha256?: string): LocalState {
  return {
    type: entry.type,
    size: entry.size,
    mtimeMs: entry.mtimeMs,
    mode: entry.mode,
    owner: owners.userName(entry.uid),
    group: owners.groupName(entry.gid),
    ...(sha256 !== undefined && { sha256 }),
    target: entry.target,
  };
}

/** The bucket side of one key as the planner sees it; the key's trailing `/` alone says what is a directory. */
export function remoteStateOf(key: string, info: ObjectInfo, logger: Logger): RemoteState {
  const decoded = decodeEntryMeta(info.metadata);
  const shape = isDirKey(key) ? "dir" : "file";
  const typeFits = !decoded?.meta || (decoded.meta.type === "dir") === (shape === "dir");
  const invalid = [...(decoded?.invalid ?? []), ...(typeFits ? [] : ["fedsync-type"])];
  if (invalid.length) {
    logOnce(logger, `meta:${info.key}:${info.etag}`, "warn", `ignoring invalid metadata on ${info.key}`, {
      fields: invalid.join(","),
    });
  }
  const meta = typeFits ? decoded?.meta : undefined;
  return {
    type: meta?.type ?? shape,
    etag: info.etag,
    size: info.size,
    lastModified: info.lastModified.getTime(),
    sha256: meta?.sha256,
    mtimeMs: meta?.mtimeMs,
    mode: meta?.mode,
    owner: meta?.owner,
    group: meta?.group,
    origin: meta?.origin,
    target: meta?.target,
  };
}

/**
 * The bucket side of a key whose object is still the version its journal row agreed with (same ETag and
 * Last-Modified, see Listed.current): the metadata it was written with is what the row recorded.
 */
export function agreedRemoteStateOf(row: FileRow, info: ObjectInfo): RemoteState {
  const symlink = row.type === "symlink";
  return {
    type: row.type,
    etag: info.etag,
    size: info.size,
    lastModified: info.lastModified.getTime(),
    sha256: row.sha256 ?? undefined,
    mtimeMs: symlink ? undefined : row.mtimeMs,
    mode: symlink ? undefined : row.mode,
    owner: row.owner ?? undefined,
    group: row.group ?? undefined,
    target: row.target ?? undefined,
  };
}

export function baseOf(row: FileRow): BaseState {
  return {
    type: row.type,
    mtimeMs: row.mtimeMs,
    mode: row.mode,
    owner: row.owner,
    group: row.group,
    sha256: row.sha256,
    target: row.target,
    remoteEtag: row.remoteEtag,
  };
}

/** The journal row recording that the entry at `path` and its object (`remote`) agree. */
export function agreedRow(
  set: string,
  path: string,
  entry: LocalEntry,
  owners: OwnerNames,
  sha256: string | null,
  remote: { etag: string | null; lastModified: number | null },
  at: number,
): FileRow {
  return {
    set,
    path,
    type: entry.type,
    size: entry.size,
    mtimeMs: entry.mtimeMs,
    mtimeNs: entry.mtimeNs,
    ctimeNs: entry.ctimeNs,
    inode: entry.inode,
    mode: entry.mode,
    owner: owners.userName(entry.uid),
    group: owners.groupName(entry.gid),
    sha256,
    target: entry.target ?? null,
    remoteEtag: remote.etag,
    remoteLastModified: remote.lastModified,
    syncedAt: at,
  };
}
