import { lstat } from "node:fs/promises";
import type { Journal } from "../journal/journal.js";
import { absolutePath } from "../reconcile/localfs.js";
import { holdsDirectory } from "../watch/watcher.js";

export interface PendingRow {
  path: string;
  reason: string;
}

/** What a batch of paths the watcher reported asks for. */
export interface PendingBatch {
  /** Keys to sync one by one (files, and directory keys). */
  keys: string[];
  /** Directory keys to scan whole. */
  subtrees: string[];
  /** Paths that no longer exist. */
  gone: number;
  /** A created directory already holds directories, which the watcher does not watch. */
  unwatched: boolean;
}

/** Sorts pending paths into files synced by key and directories (created or deleted) synced by subtree. */
export async function sortPending(
  journal: Journal,
  setName: string,
  root: string,
  pending: PendingRow[],
): Promise<PendingBatch> {
  const batch: PendingBatch = { keys: [], subtrees: [], gone: 0, unwatched: false };
  for (const { path, reason } of pending) {
    const isDir = await lstat(absolutePath(root, path)).then(
      (stats) => stats.isDirectory(),
      () => {
        batch.gone++;
        return false;
      },
    );
    if (isDir || journal.getFile(setName, `${path}/`)) {
      batch.subtrees.push(`${path}/`);
      batch.keys.push(`${path}/`);
    }
    if (!isDir) batch.keys.push(path);
    if (isDir && !batch.unwatched && reason.split(",").includes("create"))
      batch.unwatched = await holdsDirectory(absolutePath(root, path));
  }
  return batch;
}
