/**
 * Mount points inside a set root: directories on another device than their parent. A full pass records them;
 * when one is later unmounted (its directory is then on its parent's device, usually empty) or gone, what was
 * under it must not be taken for deleted.
 */
import { lstat } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Journal } from "../journal/journal.js";
import { compareKeys, keyToRelPath, type LocalEntry } from "../scan/entry.js";

/** The mount points a set's last full pass recorded (directory keys). */
export function recordedMounts(journal: Journal, setName: string): string[] {
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
export async function unmountedMounts(root: string, recorded: string[]): Promise<string[]> {
  const unmounted: string[] = [];
  for (const key of recorded) {
    const path = join(root, keyToRelPath(key));
    const dev = await deviceOf(path);
    if (dev === undefined || dev === (await deviceOf(dirname(path)))) unmounted.push(key);
  }
  return unmounted;
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
