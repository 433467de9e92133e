import { constants, type BigIntStats } from "node:fs";
import { copyFile, link, lstat, mkdir, readlink, symlink, unlink, type FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import { BlockedError, RefusedError, type TreeDir } from "../scan/anchored.js";
import { keyToRelPath } from "../scan/entry.js";

export { BlockedError, RefusedError } from "../scan/anchored.js";

export interface Ownership {
  uid?: number;
  gid?: number;
}

/** The local entry the plan was made against, checked again right before it is replaced or removed. */
export interface Expected {
  inode: bigint;
  mtimeNs: bigint;
  size: number;
}

export function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** The path of `key` under `root`, for messages and for code that only looks (never writes) there. */
export function absolutePath(root: string, key: string): string {
  return join(root, keyToRelPath(key));
}

export async function checkExpected(dir: TreeDir, name: string, expected: Expected | null | undefined) {
  if (expected === undefined) return;
  const path = `${dir.label}/${name}`;
  let stats;
  try {
    stats = await lstat(dir.at(name), { bigint: true });
  } catch (error) {
    if (errno(error) === "ENOENT" && expected === null) return;
    if (errno(error) === "ENOENT") throw new RefusedError(`${path} vanished since it was scanned`);
    throw error;
  }
  if (expected === null) {
    if (stats.isDirectory()) throw new BlockedError(`${path} is a directory`);
    throw new RefusedError(`${path} appeared since it was scanned`);
  }
  if (!isExpected(stats, expected)) throw new RefusedError(`${path} changed since it was scanned`);
}

/** Whether `stats` (an lstat) is still the entry planned against. */
export function isExpected(stats: BigIntStats, expected: Expected): boolean {
  return (
    stats.ino === expected.inode &&
    stats.mtimeNs === expected.mtimeNs &&
    // The scan counts only a file's bytes (a symlink's lstat size is its target's length).
    (stats.isFile() ? Number(stats.size) : 0) === expected.size
  );
}

/**
 * Seconds for utimes that land on exactly `ms` when read back: a double holds a 2026 time in seconds only to
 * about 0.25 µs, so half a microsecond further from zero keeps the truncated millisecond from falling one
 * short. A numeric string, because Node replaces a negative number (a time before 1970) with the current time.
 */
export function utimeSeconds(ms: number): string {
  return String((ms >= 0 ? ms + 0.0005 : ms - 0.0005) / 1000);
}

export async function chownQuietly(handle: FileHandle, owner: Ownership) {
  if (owner.uid === undefined && owner.gid === undefined) return;
  try {
    await handle.chown(owner.uid ?? -1, owner.gid ?? -1);
  } catch (error) {
    // Without CAP_CHOWN the file keeps the agent's ownership; the journal records what it really got.
    if (errno(error) !== "EPERM") throw error;
  }
}

/**
 * Keeps the current version of `name` at `copyPath` outside the tree (a hard link where possible, else a
 * copy of a regular file or of a symlink, never of what a symlink points to).
 */
export async function keepCopy(dir: TreeDir, name: string, copyPath: string): Promise<void> {
  await mkdir(dirname(copyPath), { recursive: true, mode: 0o700 });
  try {
    await link(dir.at(name), copyPath);
  } catch (error) {
    const code = errno(error);
    if (code === "ENOENT") return;
    if (code !== "EXDEV" && code !== "EPERM") throw error;
    const stats = await lstat(dir.at(name));
    if (stats.isSymbolicLink()) await symlink(await readlink(dir.at(name)), copyPath);
    else if (stats.isFile()) await copyFile(dir.at(name), copyPath, constants.COPYFILE_EXCL);
  }
}

/**
 * Moves `name` to the first of `candidates` (sibling keys) that is free, never replacing anything: a link to
 * the new name, then the old name removed. The key it went to, or undefined when every name is taken.
 */
export async function moveToFirstFree(
  dir: TreeDir,
  name: string,
  candidates: readonly string[],
): Promise<string | undefined> {
  for (const candidate of candidates) {
    try {
      await link(dir.at(name), dir.at(candidate.slice(candidate.lastIndexOf("/") + 1)));
    } catch (error) {
      if (errno(error) === "EEXIST") continue;
      throw error;
    }
    await unlink(dir.at(name));
    return candidate;
  }
  return undefined;
}
