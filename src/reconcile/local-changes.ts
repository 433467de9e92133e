import { constants } from "node:fs";
import { lstat, mkdir, open, rmdir, unlink } from "node:fs/promises";
import { withParent } from "../scan/anchored.js";
import {
  absolutePath,
  BlockedError,
  checkExpected,
  chownQuietly,
  errno,
  keepCopy,
  moveToFirstFree,
  RefusedError,
  utimeSeconds,
  type Expected,
  type Ownership,
} from "./localfs.js";

/** Makes sure `key` is a directory with `mode` and `owner`, set on its descriptor. */
export async function ensureDirectory(
  root: string,
  key: string,
  mode: number,
  owner: Ownership,
): Promise<void> {
  await withParent(root, key, true, async ({ dir, name }) => {
    try {
      await mkdir(dir.at(name), { mode });
    } catch (error) {
      if (errno(error) !== "EEXIST") throw error;
    }
    let handle;
    try {
      handle = await open(dir.at(name), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (error) {
      const code = errno(error);
      if (code === "ENOTDIR" || code === "ELOOP") {
        throw new BlockedError(`${dir.label}/${name} exists and is not a directory`);
      }
      throw error;
    }
    try {
      await chownQuietly(handle, owner);
      await handle.chmod(mode);
    } finally {
      await handle.close();
    }
  });
}

/** Sets the mode and mtime of the file at `key`, on its descriptor, when it is still what was planned. */
export async function setFileMeta(
  root: string,
  key: string,
  meta: { mode: number; mtimeMs: number },
  expected: Expected,
): Promise<void> {
  const done = await withParent(root, key, false, async ({ dir, name }) => {
    await checkExpected(dir, name, expected);
    const handle = await open(dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const stats = await handle.stat({ bigint: true });
      if (!stats.isFile() || stats.ino !== expected.inode) {
        throw new RefusedError(`${dir.label}/${name} changed since it was scanned`);
      }
      await handle.chmod(meta.mode);
      await handle.utimes(utimeSeconds(meta.mtimeMs), utimeSeconds(meta.mtimeMs));
    } finally {
      await handle.close();
    }
    return true;
  });
  if (!done) throw new RefusedError(`${absolutePath(root, key)} vanished since it was scanned`);
}

/**
 * Moves the entry at `key` to the first of `candidates` (sibling keys) that is free, never replacing
 * anything: a link to the new name, then the old name removed. The key it went to.
 */
export async function moveAside(
  root: string,
  key: string,
  candidates: readonly string[],
  expected: Expected,
): Promise<string> {
  const moved = await withParent(root, key, false, async ({ dir, name }) => {
    await checkExpected(dir, name, expected);
    const to = await moveToFirstFree(dir, name, candidates);
    if (to === undefined) throw new RefusedError(`no free name for a conflict copy of ${dir.label}/${name}`);
    return to;
  });
  if (moved === undefined) throw new RefusedError(`${absolutePath(root, key)} vanished since it was scanned`);
  return moved;
}

/** The first of `candidates` at which nothing exists now. */
export async function firstFreeKey(root: string, candidates: readonly string[]): Promise<string> {
  for (const candidate of candidates) {
    const exists = await withParent(root, candidate, false, ({ dir, name }) =>
      lstat(dir.at(name)).then(
        () => true,
        () => false,
      ),
    );
    if (!exists) return candidate;
  }
  throw new RefusedError(`no free name among ${candidates.length} candidates for ${candidates[0]}`);
}

/**
 * Removes a file or symlink (after keeping it at `keepAt`, if given) when it is still what was planned.
 * Directories are removed only when empty; a non-empty one is left and reported as blocked.
 */
export async function removeEntry(
  root: string,
  key: string,
  options: { directory: boolean; expected?: Expected; keepAt?: string },
): Promise<void> {
  await withParent(root, key, false, async ({ dir, name }) => {
    if (options.directory) {
      try {
        await rmdir(dir.at(name));
      } catch (error) {
        const code = errno(error);
        if (code === "ENOENT") return;
        if (code === "ENOTEMPTY" || code === "EEXIST") {
          throw new BlockedError(`${dir.label}/${name} is not empty`);
        }
        if (code === "ENOTDIR") throw new RefusedError(`${dir.label}/${name} is no longer a directory`);
        throw error;
      }
      return;
    }
    if (options.expected) await checkExpected(dir, name, options.expected);
    if (options.keepAt) await keepCopy(dir, name, options.keepAt);
    try {
      await unlink(dir.at(name));
    } catch (error) {
      if (errno(error) !== "ENOENT") throw error;
    }
  });
}
