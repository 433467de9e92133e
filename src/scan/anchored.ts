/**
 * The one way fedsync reaches a path inside a set root to read, write or delete it. The entry key is validated
 * here, just before use, whatever it came from (an object key, a conflict copy, a restore target); then every
 * directory from the root down is opened without following a symlink, and the last one is held by its
 * descriptor. Names inside it are reached as `/proc/self/fd/<fd>/<name>`, which the kernel resolves through
 * the descriptor: a local user who renames or replaces any directory above it by a symlink meanwhile cannot
 * redirect the operation out of the tree.
 */
import { constants } from "node:fs";
import { lstat, mkdir, open, type FileHandle } from "node:fs/promises";
import { keyToRelPath } from "./entry.js";
import { validateEntryKey } from "./keys.js";

const DIRECTORY_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** The path is occupied by something a later step of the pass may clear (a type change): retry at the end. */
export class BlockedError extends Error {
  override name = "BlockedError";
}

/** Going on would be unsafe (a symlink in the parent chain, an invalid name, a changed file): skip it. */
export class RefusedError extends Error {
  override name = "RefusedError";
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** A directory of a set's tree, held open. */
export class TreeDir {
  constructor(
    private readonly handle: FileHandle,
    /** The directory's path as configured, for messages only. */
    readonly label: string,
  ) {}

  /** A path that reaches `name` in this directory through its descriptor. */
  at(name: string): string {
    return `/proc/self/fd/${this.handle.fd}/${name}`;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** The set root itself (the configured path is trusted, so symlinks in it are followed). */
export async function openRoot(root: string): Promise<TreeDir> {
  return new TreeDir(await open(root, DIRECTORY_FLAGS & ~constants.O_NOFOLLOW), root);
}

async function openChild(parent: TreeDir, name: string, create: boolean): Promise<TreeDir | undefined> {
  const label = `${parent.label}/${name}`;
  for (let attempt = 0; ; attempt++) {
    try {
      return new TreeDir(await open(parent.at(name), DIRECTORY_FLAGS), label);
    } catch (error) {
      const code = errno(error);
      if (code === "ENOENT") {
        if (!create) return undefined;
        await mkdir(parent.at(name), { mode: 0o755 }).catch((mkdirError: unknown) => {
          if (errno(mkdirError) !== "EEXIST" || attempt > 0) throw mkdirError;
        });
        continue;
      }
      if (code === "ENOTDIR" || code === "ELOOP") {
        const stats = await lstat(parent.at(name)).catch(() => undefined);
        if (stats?.isSymbolicLink()) throw new RefusedError(`${label} is a symlink; not going through it`);
        throw new BlockedError(`${label} is not a directory`);
      }
      throw error;
    }
  }
}

export interface Parent {
  dir: TreeDir;
  /** The entry's own name in `dir`. */
  name: string;
}

/**
 * Opens the directory `dirKey` (a directory key like `a/b/`, or "" for the root) under `root`, creating
 * missing directories when `create` is set; undefined when one is missing and `create` is not set.
 */
export async function openDirectory(
  root: string,
  dirKey: string,
  create: boolean,
): Promise<TreeDir | undefined> {
  const refused = dirKey === "" ? null : validateEntryKey(dirKey);
  if (refused !== null) throw new RefusedError(`refusing the path ${JSON.stringify(dirKey)}: ${refused}`);
  let dir = await openRoot(root);
  try {
    for (const part of dirKey === "" ? [] : keyToRelPath(dirKey).split("/")) {
      const child = await openChild(dir, part, create);
      await dir.close();
      if (!child) return undefined;
      dir = child;
    }
  } catch (error) {
    await dir.close();
    throw error;
  }
  return dir;
}

/**
 * Opens the directory holding `key` under `root` (see openDirectory). The key is validated first: this is
 * the check every path from the bucket, a conflict copy or a restore passes just before it is used.
 */
export async function openParent(root: string, key: string, create: boolean): Promise<Parent | undefined> {
  const refused = validateEntryKey(key);
  if (refused !== null) throw new RefusedError(`refusing the path ${JSON.stringify(key)}: ${refused}`);
  const relPath = keyToRelPath(key);
  const slash = relPath.lastIndexOf("/");
  const dir = await openDirectory(root, slash < 0 ? "" : relPath.slice(0, slash + 1), create);
  return dir && { dir, name: relPath.slice(slash + 1) };
}

/** Runs `use` on the parent of `key` and closes it after; undefined when the parent is missing. */
export async function withParent<T>(
  root: string,
  key: string,
  create: boolean,
  use: (parent: Parent) => Promise<T>,
): Promise<T | undefined> {
  const parent = await openParent(root, key, create);
  if (!parent) return undefined;
  try {
    return await use(parent);
  } finally {
    await parent.dir.close();
  }
}
