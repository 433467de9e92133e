import { lstat, opendir, rm } from "node:fs/promises";
import { join } from "node:path";
import { compactTimestamp, parseCompactTimestamp } from "../datastore/layout.js";
import { keyToRelPath } from "../scan/entry.js";

/**
 * The trash of `keep_deleted`: `<state_dir>/trash/<set>/<UTC timestamp>/<path>`, one timestamp directory per
 * moment the agent replaced or deleted local files, holding those files' last local versions.
 */
export function trashRoot(stateDir: string, set: string): string {
  return join(stateDir, "trash", set);
}

export function trashPath(stateDir: string, set: string, at: number, key: string): string {
  return join(trashRoot(stateDir, set), compactTimestamp(at), keyToRelPath(key));
}

export interface TrashedCopy {
  /** The timestamp directory's name, which also identifies the copy: `trash:<stamp>`. */
  stamp: string;
  /** When the agent moved it to the trash. */
  trashedAt: number;
  file: string;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

async function* stampDirs(root: string): AsyncGenerator<{ stamp: string; at: number }> {
  let dir;
  try {
    dir = await opendir(root);
  } catch (error) {
    if (errno(error) === "ENOENT") return;
    throw error;
  }
  for await (const entry of dir) {
    const at = parseCompactTimestamp(entry.name);
    if (entry.isDirectory() && at !== undefined) yield { stamp: entry.name, at };
  }
}

/** The copies of `key` in a set's trash (regular files only), oldest first. */
export async function trashedCopies(stateDir: string, set: string, key: string): Promise<TrashedCopy[]> {
  const root = trashRoot(stateDir, set);
  const copies: TrashedCopy[] = [];
  for await (const { stamp, at } of stampDirs(root)) {
    const file = join(root, stamp, keyToRelPath(key));
    try {
      if ((await lstat(file)).isFile()) copies.push({ stamp, trashedAt: at, file });
    } catch (error) {
      if (errno(error) !== "ENOENT" && errno(error) !== "ENOTDIR") throw error;
    }
  }
  return copies.sort((a, b) => a.trashedAt - b.trashedAt);
}

/** Removes a set's trash directories older than `before`; returns how many. */
export async function pruneTrash(stateDir: string, set: string, before: number): Promise<number> {
  const root = trashRoot(stateDir, set);
  let removed = 0;
  for await (const { stamp, at } of stampDirs(root)) {
    if (at >= before) continue;
    await rm(join(root, stamp), { recursive: true, force: true });
    removed++;
  }
  return removed;
}
