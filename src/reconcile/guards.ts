import type { SetConfig } from "../config/types.js";
import { flagPath } from "./flags.js";

/** A pass stopped before changing anything, for a reason the operator must look at (see `trip` in pass.ts). */
export class GuardError extends Error {}

/** Below this many deletions the ratio guard does not apply: deleting 3 of 4 config files is normal. */
export const GUARD_MIN_DELETIONS = 10;

export interface RecentDeletions {
  local: number;
  remote: number;
}

export function massDeleteHint(set: SetConfig, stateDir: string): string {
  const flag = flagPath(stateDir, "allow-mass-delete", set.name);
  return `if this is intended: run \`fedsync sync --set ${set.name} --allow-mass-delete\`, or \`touch ${flag}\` while the agent runs`;
}

export function deletionGuard(
  set: SetConfig,
  stateDir: string,
  journalCount: number,
  local: number,
  remote: number,
  recent: RecentDeletions = { local: 0, remote: 0 },
): string | undefined {
  // Deletions already made since the last full pass count too: they were entries of the set back then.
  const total = journalCount + recent.local + recent.remote;
  const limit = Math.max(GUARD_MIN_DELETIONS, set.maxDelete * total);
  for (const [count, earlier, side] of [
    [local, recent.local, "local"],
    [remote, recent.remote, "bucket"],
  ] as const) {
    if (count + earlier > limit) {
      const since = earlier > 0 ? ` (after ${earlier} since the last full pass)` : "";
      return `deletion guard: this pass would delete ${count}${since} of ${total} entries on the ${side} side (max_delete ${Math.round(set.maxDelete * 100)}%); nothing deleted (${massDeleteHint(set, stateDir)})`;
    }
  }
  return undefined;
}
