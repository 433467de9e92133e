/** The paths a hook run reports on stdin, one per line. */
import { compareKeys } from "../scan/entry.js";

/** Paths listed on one run's stdin at most; beyond them a batch only counts. */
export const MAX_LISTED_PATHS = 100_000;

/**
 * Changed paths collected for the next run of a hook: distinct, at most MAX_LISTED_PATHS. A path holding a
 * newline cannot be one line of stdin (and, coming from the bucket, could pose as two paths), so it is
 * counted but not listed.
 */
export class PathBatch {
  private readonly listed = new Set<string>();
  private unlistedCount = 0;

  add(path: string): void {
    if (this.listed.has(path)) return;
    if (path.includes("\n") || this.listed.size >= MAX_LISTED_PATHS) this.unlistedCount++;
    else this.listed.add(path);
  }

  /** Paths in the batch (a path left off the list may be counted more than once). */
  get count(): number {
    return this.listed.size + this.unlistedCount;
  }

  /** Paths counted but not on stdin. */
  get unlisted(): number {
    return this.unlistedCount;
  }

  /** The listed paths in byte order. */
  lines(): string[] {
    return [...this.listed].sort(compareKeys);
  }
}
