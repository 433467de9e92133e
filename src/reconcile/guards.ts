import { mkdir, opendir, stat } from "node:fs/promises";
import type { Config, SetConfig } from "../config/types.js";
import type { Datastore } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import type { SetState } from "../journal/types.js";
import { heartbeatKey } from "./layout.js";
import { TEMP_PREFIX } from "./localfs.js";

/** The checks that stop a pass before it deletes what it should not (see "Safety" in docs/design.md). */

/** Below this many deletions the ratio guard does not apply: deleting 3 of 4 config files is normal. */
export const GUARD_MIN_DELETIONS = 10;

/** Deletions made by earlier passes since the last full pass that ran to its end. */
export interface RecentDeletions {
  local: number;
  remote: number;
}

/** A guard stopped the pass; the message says why and what to do. */
export class GuardError extends Error {}

/** Whether the set root holds nothing but fedsync's own temp files. */
async function rootIsEmpty(root: string): Promise<boolean> {
  const dir = await opendir(root);
  try {
    for await (const entry of dir) {
      if (!entry.name.startsWith(TEMP_PREFIX)) return false;
    }
    return true;
  } finally {
    await dir.close().catch(() => undefined);
  }
}

export function massDeleteHint(set: SetConfig): string {
  return `run \`fedsync sync --set ${set.name} --allow-mass-delete\` if this is intended`;
}

/** A missing, non-directory or emptied set root stops the pass (throws GuardError); a new one is created. */
export async function checkRoot(
  set: SetConfig,
  journalCount: number,
  options: { dryRun?: boolean; allowMassDelete?: boolean },
): Promise<void> {
  let rootStats;
  try {
    rootStats = await stat(set.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  if (!rootStats) {
    if (journalCount > 0 && !options.allowMassDelete) {
      throw new GuardError(
        `set root ${set.path} is missing but the journal knows ${journalCount} entries (unmounted?); nothing synced or deleted`,
      );
    }
    if (!options.dryRun) await mkdir(set.path, { recursive: true, mode: 0o755 });
    return;
  }
  if (!rootStats.isDirectory())
    throw new GuardError(`set root ${set.path} is not a directory; nothing synced`);
  // A set of a few files may be emptied on purpose; the ratio guard's floor applies here too.
  if (journalCount > GUARD_MIN_DELETIONS && !options.allowMassDelete && (await rootIsEmpty(set.path))) {
    throw new GuardError(
      `set root ${set.path} is empty but the journal knows ${journalCount} entries (emptied or unmounted?); nothing deleted (${massDeleteHint(set)})`,
    );
  }
}

/**
 * A journal that has never seen the set, while the bucket holds this machine's heartbeat for it, was lost or
 * replaced: syncing from it would treat every path as new on both sides. Stop and point at the rebuild.
 */
export async function checkJournalKnowsSet(
  deps: { config: Config; set: SetConfig; journal: Journal; datastore: Datastore },
  journalCount: number,
  state: SetState,
): Promise<void> {
  if (journalCount > 0 || state.lastGoodSync !== null || state.lastFullPass !== null) return;
  const { set, config, journal } = deps;
  const heartbeat = await deps.datastore.stat(heartbeatKey(set.name, config.machine));
  if (!heartbeat) return;
  throw new GuardError(
    `the journal ${journal.file} knows nothing of set ${set.name}, but the bucket shows ${config.machine} synced it on ${heartbeat.lastModified.toISOString()}: the journal was lost or replaced; nothing synced (stop the agent and run \`fedsync rebuild-journal\`)`,
  );
}

/** Why this pass's deletions, with the recent ones, are too many; undefined when they are within max_delete. */
export function deletionGuard(
  set: SetConfig,
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
      return `deletion guard: this pass would delete ${count}${since} of ${total} entries on the ${side} side (max_delete ${Math.round(set.maxDelete * 100)}%); nothing deleted (${massDeleteHint(set)})`;
    }
  }
  return undefined;
}
