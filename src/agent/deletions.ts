import { compareKeys } from "../scan/entry.js";

/**
 * Local deletions are acted on only once no deletion event came for this long, so an `rm -rf` reaches one
 * pass whole, where the deletion guard can judge it, instead of a few files at a time. A set whose files
 * are deleted without pause waits at most DELETIONS_SETTLE_MAX_MS.
 */
const DELETIONS_SETTLE_MS = 500;
const DELETIONS_SETTLE_MAX_MS = 5000;

/** Tells a set runner how long to hold a pass back while local deletions keep arriving. */
export class DeletionSettler {
  private lastDeletionEventAt = 0;
  private settlingSince?: number;

  deletionSeen(): void {
    this.lastDeletionEventAt = Date.now();
  }

  /** How long to wait for local deletions to stop arriving (0: go ahead). */
  waitMs(): number {
    const now = Date.now();
    const quietIn = this.lastDeletionEventAt + DELETIONS_SETTLE_MS - now;
    this.settlingSince ??= now;
    const wait = Math.min(quietIn, this.settlingSince + DELETIONS_SETTLE_MAX_MS - now);
    if (wait <= 0) this.settlingSince = undefined;
    return Math.max(0, wait);
  }
}

/** Directory keys not inside another one of the list. */
export function outermost(dirKeys: string[]): string[] {
  const sorted = [...new Set(dirKeys)].sort(compareKeys);
  const result: string[] = [];
  for (const key of sorted) {
    if (!result.some((outer) => key.startsWith(outer))) result.push(key);
  }
  return result;
}
