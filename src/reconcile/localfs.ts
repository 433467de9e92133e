import { randomBytes } from "node:crypto";
import { createWriteStream, rmSync, type Stats } from "node:fs";
import { copyFile, link, lstat, mkdir, open, rename, rm, rmdir, symlink, unlink } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { shortHash } from "../log/index.js";
import { keyToRelPath } from "../scan/entry.js";

export const TEMP_PREFIX = ".fedsync-tmp-";

/** The path is occupied by something a later step of the pass may clear (a type change): retry at the end. */
export class BlockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlockedError";
  }
}

/** Writing here would be unsafe (a symlink in the parent chain, a changed local file): skip it. */
export class RefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RefusedError";
  }
}

export interface Ownership {
  uid?: number;
  gid?: number;
}

/** The local file the plan was made against, checked again right before it is replaced or removed. */
export interface Expected {
  inode: bigint;
  mtimeNs: bigint;
  size: number;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export function absolutePath(root: string, key: string): string {
  return join(root, keyToRelPath(key));
}

/**
 * Creates the missing parent directories of `key` under `root`, refusing to pass through a symlink (which
 * could lead out of the root) and reporting a non-directory in the way as blocked.
 */
export async function prepareParents(root: string, key: string): Promise<string> {
  const parts = keyToRelPath(key).split("/");
  parts.pop();
  let current = root;
  for (const part of parts) {
    current = join(current, part);
    let stats: Stats | undefined;
    try {
      stats = await lstat(current);
    } catch (error) {
      if (errno(error) !== "ENOENT") throw error;
    }
    if (!stats) {
      try {
        await mkdir(current, { mode: 0o755 });
        continue;
      } catch (error) {
        if (errno(error) !== "EEXIST") throw error;
        stats = await lstat(current);
      }
    }
    if (stats.isSymbolicLink()) throw new RefusedError(`${current} is a symlink; not writing through it`);
    if (!stats.isDirectory()) throw new BlockedError(`${current} is not a directory`);
  }
  return current;
}

async function checkExpected(path: string, expected: Expected | null | undefined): Promise<void> {
  if (expected === undefined) return;
  let stats;
  try {
    stats = await lstat(path, { bigint: true });
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

function tempPath(dir: string): string {
  const path = join(dir, `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
  activeTemps.add(path);
  return path;
}

async function releaseTemp(path: string): Promise<void> {
  await rm(path, { force: true });
  activeTemps.delete(path);
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
  const path = absolutePath(root, key);
  if (activeTemps.has(path)) return false;
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (errno(error) === "ENOENT") return false;
    throw error;
  }
}

export interface FileWrite {
  mode: number;
  mtimeMs: number;
  owner: Ownership;
  /** When known, the written bytes must hash to this (a mismatch aborts the write). */
  sha256?: string;
  size?: number;
  /** The local entry being replaced: undefined to not check, null if there must be none. */
  expected?: Expected | null;
  /** Where to keep the replaced version, if anywhere. */
  keepPreviousAt?: string;
}

/**
 * Writes `source` to `key` atomically: a temp file in the target directory, fsync, mode/owner/mtime, rename.
 * A crash at any point leaves either the old or the new content.
 */
export async function writeFileAtomic(
  root: string,
  key: string,
  source: Readable,
  options: FileWrite,
): Promise<{ sha256: string; size: number }> {
  let dir: string;
  try {
    dir = await prepareParents(root, key);
  } catch (error) {
    source.destroy();
    throw error;
  }
  const target = absolutePath(root, key);
  const temp = tempPath(dir);
  const hash = createHash("sha256");
  let size = 0;
  try {
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    await pipeline(source, counter, createWriteStream(temp, { flags: "wx", mode: 0o600 }));
    const sha256 = hash.digest("hex");
    if (options.sha256 && sha256 !== options.sha256) {
      throw new Error(
        `content of ${key} does not match its sha256 (got ${shortHash(sha256)}, expected ${shortHash(options.sha256)})`,
      );
    }
    if (options.size !== undefined && size !== options.size) {
      throw new Error(`content of ${key} is ${size} bytes, expected ${options.size}`);
    }
    const handle = await open(temp, "r+");
    try {
      await handle.chmod(options.mode);
      await chownQuietly(handle, options.owner);
      await handle.utimes(utimeSeconds(options.mtimeMs), utimeSeconds(options.mtimeMs));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await checkExpected(target, options.expected);
    if (options.keepPreviousAt) await keepCopy(target, options.keepPreviousAt);
    await renameInto(temp, target);
    activeTemps.delete(temp);
    return { sha256, size };
  } catch (error) {
    await releaseTemp(temp);
    throw error;
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

async function chownQuietly(handle: { chown(uid: number, gid: number): Promise<void> }, owner: Ownership) {
  if (owner.uid === undefined && owner.gid === undefined) return;
  try {
    await handle.chown(owner.uid ?? -1, owner.gid ?? -1);
  } catch (error) {
    // Without CAP_CHOWN the file keeps the agent's ownership; the journal records what it really got.
    if (errno(error) !== "EPERM") throw error;
  }
}

async function renameInto(temp: string, target: string): Promise<void> {
  try {
    await rename(temp, target);
  } catch (error) {
    const code = errno(error);
    if (code === "EISDIR" || code === "ENOTEMPTY" || code === "ENOTDIR") {
      throw new BlockedError(`${target} is occupied by a directory`);
    }
    throw error;
  }
}

/** Replaces `key` with a symlink to `target`, atomically. */
export async function writeSymlinkAtomic(
  root: string,
  key: string,
  target: string,
  expected?: Expected | null,
): Promise<void> {
  const dir = await prepareParents(root, key);
  const temp = tempPath(dir);
  try {
    await symlink(target, temp);
    await checkExpected(absolutePath(root, key), expected);
    await renameInto(temp, absolutePath(root, key));
    activeTemps.delete(temp);
  } catch (error) {
    await releaseTemp(temp);
    throw error;
  }
}

/** Makes sure `key` is a directory with `mode`. */
export async function ensureDirectory(
  root: string,
  key: string,
  mode: number,
  owner: Ownership,
): Promise<void> {
  await prepareParents(root, key);
  const path = absolutePath(root, key);
  try {
    await mkdir(path, { mode });
  } catch (error) {
    if (errno(error) !== "EEXIST") throw error;
    const stats = await lstat(path);
    if (!stats.isDirectory()) throw new BlockedError(`${path} exists and is not a directory`);
  }
  const handle = await open(path, "r");
  try {
    await handle.chmod(mode);
    await chownQuietly(handle, owner);
  } finally {
    await handle.close();
  }
}

/** Keeps the current version of `path` at `copyPath` (a hard link where possible, else a copy). */
export async function keepCopy(path: string, copyPath: string): Promise<void> {
  await mkdir(dirname(copyPath), { recursive: true, mode: 0o700 });
  try {
    await link(path, copyPath);
  } catch (error) {
    const code = errno(error);
    if (code === "ENOENT") return;
    if (code !== "EXDEV" && code !== "EPERM") throw error;
    await copyFile(path, copyPath);
  }
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
  const path = absolutePath(root, key);
  if (options.directory) {
    try {
      await rmdir(path);
    } catch (error) {
      const code = errno(error);
      if (code === "ENOENT") return;
      if (code === "ENOTEMPTY" || code === "EEXIST") throw new BlockedError(`${path} is not empty`);
      throw error;
    }
    return;
  }
  if (options.expected) await checkExpected(path, options.expected);
  if (options.keepAt) await keepCopy(path, options.keepAt);
  try {
    await unlink(path);
  } catch (error) {
    if (errno(error) !== "ENOENT") throw error;
  }
}
