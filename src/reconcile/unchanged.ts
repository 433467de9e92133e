import type { FileRow } from "../journal/types.js";
import type { LocalEntry } from "../scan/entry.js";

/**
 * Timestamps are coarse: a write in the same tick as the stat that was recorded leaves mtime and ctime
 * unchanged. A stat is trusted only for files whose mtime is this much older than the row's `syncedAt`.
 */
export const RACY_WINDOW_MS = 2000;

/**
 * Whether the local entry is, by its stat alone, what the journal recorded at the last agreement, so it
 * needs no read (the racy-git rule). The row's stat must have been taken at `base.syncedAt` or just before
 * (re-stat after a long upload), or the rule protects nothing.
 */
export function unchangedSinceBase(entry: LocalEntry, base: FileRow): boolean {
  return (
    entry.type === base.type &&
    entry.size === base.size &&
    entry.mtimeNs === base.mtimeNs &&
    entry.ctimeNs === base.ctimeNs &&
    entry.inode === base.inode &&
    (entry.type !== "symlink" || entry.target === base.target) &&
    entry.mtimeMs <= base.syncedAt - RACY_WINDOW_MS
  );
}
