import { randomBytes } from "node:crypto";
import { constants, rmSync } from "node:fs";
import {
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readlink,
  rename,
  rmdir,
  symlink,
  unlink,
  type FileHandle,
} from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { shortHash } from "../log/index.js";
import {
  BlockedError,
  openDirectory,
  openParent,
  RefusedError,
  withParent,
  type TreeDir,
} from "../scan/anchored.js";
import { TEMP_NAME_PREFIX } from "../config/names.js";
import { keyToRelPath } from "../scan/entry.js";

export { BlockedError, RefusedError } from "../scan/anchored.js";

const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

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

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** The path of `key` under `root`, for messages and for code that only looks (never writes) there. */
export function absolutePath(root: string, key: string): string {
  return join(root, keyToRelPath(key));
}

async function checkExpected(dir: TreeDir, name: string, expected: Expected | null | undefined) {
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
  if (
    stats.ino !== expected.inode ||
    stats.mtimeNs !== expected.mtimeNs ||
    // The scan counts only a file's bytes (a symlink's lstat size is its target's length).
    (stats.isFile() ? Number(stats.size) : 0) !== expected.size
  ) {
    throw new RefusedError(`${path} changed since it was scanned`);
  }
}

/** Temp files being written right now, removed on shutdown so an abandoned write leaves nothing behind. */
const activeTemps = new Set<string>();

function tempName(): string {
  return `${TEMP_NAME_PREFIX}${randomBytes(6).toString("hex")}`;
}

export function removeActiveTemps(): void {
  for (const path of activeTemps) rmSync(path, { force: true });
  activeTemps.clear();
}

/**
 * Removes a temp file that an interrupted run left at `key` (the state lock means no other agent writes
 * here; this process's own writes in flight are spared). Whether there was one to remove.
 */
export async function removeStaleTemp(root: string, key: string): Promise<boolean> {
  const name = key.slice(key.lastIndexOf("/") + 1);
  if (!name.startsWith(TEMP_NAME_PREFIX) || activeTemps.has(absolutePath(root, key))) return false;
  const dir = await openDirectory(root, key.slice(0, key.length - name.length), false);
  if (!dir) return false;
  try {
    await unlink(dir.at(name));
    return true;
  } catch (error) {
    if (errno(error) === "ENOENT") return false;
    throw error;
  } finally {
    await dir.close();
  }
}

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
): Promise<{ sha256: string; size: number }> {
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
    await place(dir, temp, name, options.expected === null);
    await checkPlaced(dir, name, handle);
    activeTemps.delete(tempLabel);
    return { sha256, size };
  } catch (error) {
    await unlink(dir.at(temp)).catch(() => undefined);
    activeTemps.delete(tempLabel);
    throw error;
  } finally {
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

/**
 * Seconds for utimes that land on exactly `ms` when read back: a double holds a 2026 time in seconds only to
 * about 0.25 µs, so half a microsecond further from zero keeps the truncated millisecond from falling one
 * short. A numeric string, because Node replaces a negative number (a time before 1970) with the current time.
 */
function utimeSeconds(ms: number): string {
  return String((ms >= 0 ? ms + 0.0005 : ms - 0.0005) / 1000);
}

async function chownQuietly(handle: FileHandle, owner: Ownership) {
  if (owner.uid === undefined && owner.gid === undefined) return;
  try {
    await handle.chown(owner.uid ?? -1, owner.gid ?? -1);
  } catch (error) {
    // Without CAP_CHOWN the file keeps the agent's ownership; the journal records what it really got.
    if (errno(error) !== "EPERM") throw error;
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
 * Keeps the current version of `name` at `copyPath` outside the tree (a hard link where possible, else a
 * copy of a regular file or of a symlink, never of what a symlink points to).
 */
async function keepCopy(dir: TreeDir, name: string, copyPath: string): Promise<void> {
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
    for (const candidate of candidates) {
      const candidateName = candidate.slice(candidate.lastIndexOf("/") + 1);
      try {
        await link(dir.at(name), dir.at(candidateName));
      } catch (error) {
        if (errno(error) === "EEXIST") continue;
        throw error;
      }
      await unlink(dir.at(name));
      return candidate;
    }
    throw new RefusedError(`no free name for a conflict copy of ${dir.label}/${name}`);
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
