import type { EntryType } from "../scan/entry.js";

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
