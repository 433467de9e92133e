import type { LocalEntry } from "../scan/entry.js";

/** How many entries of each type a set holds. */
export interface EntryCounts {
  files: number;
  directories: number;
  symlinks: number;
}

export function totalEntries(counts: EntryCounts): number {
  return counts.files + counts.directories + counts.symlinks;
}

/**
 * One path as it was when local and remote last agreed: the merge base of the three-way diff. The local stat
 * at agreement (for skip-by-stat), with `mtimeMs` as synced (the value in the object's metadata).
 */
export interface FileRow extends Pick<
  LocalEntry,
  "type" | "size" | "mtimeMs" | "mtimeNs" | "ctimeNs" | "inode" | "mode"
> {
  set: string;
  /** Entry key (relative path; trailing `/` for directories). */
  path: string;
  owner: string | null;
  group: string | null;
  sha256: string | null;
  target: string | null;
  remoteEtag: string | null;
  /**
   * The object's Last-Modified (ms since the epoch) as the bucket reported it; null until a listing or a
   * download showed it (a PUT answer does not carry it). With the ETag, it tells a listing whether the
   * object is still the agreed version, so its metadata need not be fetched.
   */
  remoteLastModified: number | null;
  /** ms since the epoch. */
  syncedAt: number;
}

export interface PendingRow {
  set: string;
  path: string;
  reason: string;
  firstSeen: number;
}

export interface SetState {
  name: string;
  lastFullPass: number | null;
  lastLogKey: string | null;
  lastGoodSync: number | null;
  lastError: string | null;
  /** Duration of the last pass, ms. */
  lastPassMs: number | null;
  /** The set root's device and inode numbers (decimal) at the last full pass. */
  rootDev: string | null;
  rootIno: string | null;
  /** JSON list of the directory keys inside the tree that were mount points at the last full pass. */
  mounts: string | null;
  /** When the last full pass that ran to its end began (ms since the epoch). */
  lastFullPassStarted: number | null;
  /** A SHA-256 of the ignore rules in force at the last pass that listed the bucket. */
  listedIgnoreRules: string | null;
  /**
   * The change log's time up to which every other machine's change has been applied: the start of the last
   * full pass with no failed action, or the newest record a change-log read applied, whichever is later.
   */
  appliedThrough: number | null;
}

export interface ConflictRow {
  id: number;
  set: string;
  path: string;
  copyPath: string;
  /** Machine whose version kept the name. */
  winner: string;
  /** Machine whose version went to the copy (or was dropped under newest-wins). */
  loser: string;
  at: number;
}

/** One line of a change-log record: a path this machine wrote or marked deleted in the bucket. */
export interface OutgoingChange {
  path: string;
  op: "put" | "delete";
  sha256?: string;
  etag?: string;
}
