/**
 * Mount points inside a set root: directories on another device than their parent. A full pass records them;
 * when one is later unmounted (its directory is then on its parent's device, usually empty) or gone, what was
 * under it must not be taken for deleted.
 */
import { lstat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Journal } from "../journal/journal.js";
import { compareKeys, keyToRelPath, type LocalEntry } from "../scan/entry.js";
import { acceptCommand, type RootDeps } from "./root.js";

/** The mount points a set's last full pass recorded (directory keys). */
function recordedMounts(journal: Journal, setName: string): string[] {
  const text = journal.getSetState(setName).mounts;
  if (text === null) return [];
  const parsed: unknown = JSON.parse(text);
  return Array.isArray(parsed) ? parsed.filter((key): key is string => typeof key === "string") : [];
}

export function mountsRecord(keys: Iterable<string>): string {
  return JSON.stringify([...new Set(keys)].sort(compareKeys));
}

async function deviceOf(path: string): Promise<bigint | undefined> {
  try {
    const stats = await lstat(path, { bigint: true });
    return stats.isDirectory() ? stats.dev : undefined;
  } catch {
    return undefined;
  }
}

/** The recorded mount points that are no longer mounted, or no longer there at all. */
async function unmountedMounts(root: string, recorded: string[]): Promise<string[]> {
  const unmounted: string[] = [];
  for (const key of recorded) {
    const path = join(root, keyToRelPath(key));
    const dev = await deviceOf(path);
    if (dev === undefined || dev === (await deviceOf(dirname(path)))) unmounted.push(key);
  }
  return unmounted;
}

export interface MountCheck {
  /** The mount points recorded for the set (without those just accepted as gone). */
  recorded: string[];
  /** Those not mounted now: their subtrees are unknown to the pass. */
  unmounted: string[];
  /** Why, for the log line and the status. */
  detail: string;
}

/**
 * Looks at the mount points the last full pass recorded. Accepting (`--accept-new-root`) takes those that are
 * not mounted now as gone for good: they are forgotten, and their directories sync as they are.
 */
export async function checkMounts(
  deps: RootDeps,
  options: { accept: boolean; dryRun: boolean },
): Promise<MountCheck> {
  const { set, journal, logger } = deps;
  const recorded = recordedMounts(journal, set.name);
  const unmounted = await unmountedMounts(set.path, recorded);
  const detail = `mount point not mounted (or gone); nothing under it synced or deleted (mount it again, or if it is gone for good: ${acceptCommand(deps)})`;
  if (!options.accept || unmounted.length === 0) return { recorded, unmounted, detail };
  logger.warn(`accepted as gone for good: mount point(s) ${unmounted.join(", ")} no longer mounted`);
  const kept = recorded.filter((key) => !unmounted.includes(key));
  if (!options.dryRun) journal.updateSetState(set.name, { mounts: mountsRecord(kept) });
  return { recorded: kept, unmounted: [], detail };
}

/**
 * Finds the mount points among the directories of a scan, which come in key order (a directory before its
 * contents), by comparing each directory's device with its parent's.
 */
export class MountFinder {
  readonly found: string[] = [];
  private ancestors: { key: string; dev: bigint }[] = [];

  constructor(private readonly rootDev: bigint) {}

  see(entry: LocalEntry): void {
    if (entry.type !== "dir") return;
    while (
      this.ancestors.length > 0 &&
      !entry.key.startsWith(this.ancestors[this.ancestors.length - 1]!.key)
    ) {
      this.ancestors.pop();
    }
    const parentDev = this.ancestors[this.ancestors.length - 1]?.dev ?? this.rootDev;
    if (entry.dev !== parentDev) this.found.push(entry.key);
    this.ancestors.push({ key: entry.key, dev: entry.dev });
  }
}
