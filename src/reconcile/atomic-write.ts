import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { link, lstat, open, rename, symlink, unlink, type FileHandle } from "node:fs/promises";
import type { Readable } from "node:stream";
import { shortHash } from "../log/index.js";
import { openParent, withParent, type TreeDir } from "../scan/anchored.js";
import {
  BlockedError,
  checkExpected,
  chownQuietly,
  errno,
  isExpected,
  keepCopy,
  moveToFirstFree,
  RefusedError,
  utimeSeconds,
  type Expected,
  type Ownership,
} from "./localfs.js";
import { activeTemps, tempName } from "./temp-files.js";

const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export interface FileWrite {
  mode: number;
  mtimeMs: number;
  owner: Ownership;
  /** When known, the written bytes must hash to this (a mismatch aborts the write). */
  sha256?: string;
  size?: number;
  /**
   * The local entry being replaced: undefined to not check, null if there must be none (the new file is
   * then linked into place, which fails rather than replace anything that appeared meanwhile).
   */
  expected?: Expected | null;
  /** Where to keep the replaced version, if anywhere (outside the tree: the trash). */
  keepPreviousAt?: string;
  /**
   * Sibling keys, in order of preference, for the replaced file when it turns out to have changed after the
   * last check of `expected` (a write landing just before the rename): it is kept at the first free one.
   */
  keepChangedAt?: readonly string[];
}

export interface Written {
  sha256: string;
  size: number;
  /** Where the replaced file went because it had changed since it was scanned. */
  keptChangedAt?: string;
}

/**
 * Writes `source` to `key` atomically: a temp file created in the target directory, fsync, then mode, owner
 * and mtime set on its descriptor, rename. A crash at any point leaves either the old or the new content.
 */
export async function writeFileAtomic(
  root: string,
  key: string,
  source: Readable,
  options: FileWrite,
): Promise<Written> {
  let parent;
  try {
    parent = await openParent(root, key, true);
  } catch (error) {
    source.destroy();
    throw error;
  }
  const { dir, name } = parent!;
  const temp = tempName();
  const tempLabel = `${dir.label}/${temp}`;
  activeTemps.add(tempLabel);
  let handle: FileHandle | undefined;
  let aside: string | undefined;
  try {
    handle = await open(dir.at(temp), NEW_FILE_FLAGS, 0o600);
    const hash = createHash("sha256");
    let size = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      await writeAll(handle, chunk);
    }
    const sha256 = hash.digest("hex");
    if (options.sha256 && sha256 !== options.sha256) {
      throw new Error(
        `content of ${key} does not match its sha256 (got ${shortHash(sha256)}, expected ${shortHash(options.sha256)})`,
      );
    }
    if (options.size !== undefined && size !== options.size) {
      throw new Error(`content of ${key} is ${size} bytes, expected ${options.size}`);
    }
    await chownQuietly(handle, options.owner);
    await handle.chmod(options.mode);
    await handle.utimes(utimeSeconds(options.mtimeMs), utimeSeconds(options.mtimeMs));
    await handle.sync();
    await checkExpected(dir, name, options.expected);
    await checkPlaced(dir, temp, handle);
    if (options.keepPreviousAt) await keepCopy(dir, name, options.keepPreviousAt);
    if (options.expected) aside = await linkAside(dir, name);
    await place(dir, temp, name, options.expected === null);
    await checkPlaced(dir, name, handle);
    activeTemps.delete(tempLabel);
    if (!aside) return { sha256, size };
    const placedAside = aside;
    aside = undefined; // from here on, removed only once known to be the version planned against
    const keptChangedAt = await settleAside(dir, placedAside, options.expected!, options.keepChangedAt ?? []);
    return { sha256, size, keptChangedAt };
  } catch (error) {
    await unlink(dir.at(temp)).catch(() => undefined);
    activeTemps.delete(tempLabel);
    throw error;
  } finally {
    if (aside) {
      await unlink(dir.at(aside)).catch(() => undefined);
      activeTemps.delete(`${dir.label}/${aside}`);
    }
    await handle?.close().catch(() => undefined);
    await dir.close();
  }
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/**
 * A second name for the file about to be replaced, so that a write landing between the last check and the
 * rename is not lost with it (settleAside). Undefined on a file system without hard links.
 */
async function linkAside(dir: TreeDir, name: string): Promise<string | undefined> {
  const aside = tempName();
  activeTemps.add(`${dir.label}/${aside}`);
  try {
    await link(dir.at(name), dir.at(aside));
    return aside;
  } catch (error) {
    activeTemps.delete(`${dir.label}/${aside}`);
    const code = errno(error);
    if (code === "ENOENT") throw new RefusedError(`${dir.label}/${name} vanished since it was scanned`);
    if (code === "EPERM" || code === "EOPNOTSUPP") return undefined;
    throw error;
  }
}

/**
 * Drops the aside name of the replaced file if it is still the version planned against; otherwise (it was
 * written meanwhile) keeps it at the first free name of `keepAt`, and returns that key.
 */
async function settleAside(
  dir: TreeDir,
  aside: string,
  expected: Expected,
  keepAt: readonly string[],
): Promise<string | undefined> {
  const label = `${dir.label}/${aside}`;
  const replaced = await lstat(dir.at(aside), { bigint: true });
  if (isExpected(replaced, expected)) {
    await unlink(dir.at(aside));
    activeTemps.delete(label);
    return undefined;
  }
  const kept = await moveToFirstFree(dir, aside, keepAt);
  if (kept === undefined)
    throw new RefusedError(`${label} holds a version written during a download; no free name to keep it`);
  activeTemps.delete(label);
  return kept;
}

/** Moves `temp` to `name`: by rename, or, when nothing may be replaced, by link (which fails if it exists). */
async function place(dir: TreeDir, temp: string, name: string, noReplace: boolean): Promise<void> {
  if (noReplace) {
    try {
      await link(dir.at(temp), dir.at(name));
      await unlink(dir.at(temp));
      return;
    } catch (error) {
      const code = errno(error);
      if (code === "EEXIST") throw new RefusedError(`${dir.label}/${name} appeared since it was scanned`);
      // A file system without hard links: the check just made has to do.
      if (code !== "EPERM" && code !== "EOPNOTSUPP") throw error;
    }
  }
  try {
    await rename(dir.at(temp), dir.at(name));
  } catch (error) {
    const code = errno(error);
    if (code === "EISDIR" || code === "ENOTEMPTY" || code === "ENOTDIR") {
      throw new BlockedError(`${dir.label}/${name} is occupied by a directory`);
    }
    throw error;
  }
}

/**
 * The name must hold the file this process wrote, not something a local user swapped in for the temp: checked
 * before the rename (so a swap during the transfer moves nothing into place) and after it.
 */
async function checkPlaced(dir: TreeDir, name: string, handle: FileHandle): Promise<void> {
  const [written, placed] = await Promise.all([
    handle.stat({ bigint: true }),
    lstat(dir.at(name), { bigint: true }),
  ]);
  if (written.ino !== placed.ino || written.dev !== placed.dev) {
    throw new RefusedError(
      `${dir.label}/${name}: the temp file was replaced while it was written; not synced`,
    );
  }
}

/** Replaces `key` with a symlink to `target`, atomically. */
export async function writeSymlinkAtomic(
  root: string,
  key: string,
  target: string,
  expected?: Expected | null,
): Promise<void> {
  await withParent(root, key, true, async ({ dir, name }) => {
    const temp = tempName();
    try {
      await symlink(target, dir.at(temp));
      const written = await lstat(dir.at(temp), { bigint: true });
      await checkExpected(dir, name, expected);
      await place(dir, temp, name, expected === null);
      const placed = await lstat(dir.at(name), { bigint: true });
      if (placed.ino !== written.ino) {
        throw new RefusedError(`${dir.label}/${name}: the temp link was replaced; not synced`);
      }
    } catch (error) {
      await unlink(dir.at(temp)).catch(() => undefined);
      throw error;
    }
  });
}
