import type { FileRow } from "../journal/types.js";
import type { EntryType, LocalEntry } from "../scan/entry.js";
import type { OwnerNames } from "./owners.js";

/** The local side of one key, as the planner sees it: the lstat facts plus the content hash. */
export interface LocalState {
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

/** The bucket side of one key. Fields other than etag come from fedsync metadata and may be unknown. */
export interface RemoteState {
  type: EntryType;
  etag: string;
  size: number;
  lastModified: number;
  sha256?: string;
  mtimeMs?: number;
  mode?: number;
  owner?: string;
  group?: string;
  origin?: string;
  target?: string;
}

/** The deletion mark of one key. */
export interface TombstoneState {
  type: EntryType;
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
export interface BaseState {
  type: EntryType;
  mtimeMs: number;
  mode: number;
  owner: string | null;
  group: string | null;
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
