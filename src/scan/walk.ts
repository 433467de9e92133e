import { isUtf8 } from "node:buffer";
import { lstatSync, type BigIntStats, type Dirent } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  compareKeys,
  isDirKey,
  keyToRelPath,
  type EntryType,
  type LocalEntry,
  type ScanItem,
  type ScanProblem,
} from "./entry.js";
import type { IgnoreTest } from "./ignore.js";
import { TEMP_NAME_PREFIX } from "../config/names.js";
import { objectKeyOverflow, validateEntryKey } from "./keys.js";

export interface ScanOptions {
  /** The set's ignore rules (see compileIgnore); an ignored directory is not read. */
  ignored: IgnoreTest;
  /** Called with the key of each temp file (`.fedsync-tmp-*`, not a directory) the walk skips. */
  onTempFile?: (key: string) => void;
  /** The set's bucket prefix: an entry whose object key would be too long for the datastore is a problem. */
  prefix?: string;
}

type TempFileHook = ScanOptions["onTempFile"];

/** What a directory listing needs besides the directory: the ignore test and the options that apply to names. */
interface ListContext {
  ignored: IgnoreTest;
  onTempFile: TempFileHook;
  prefix: string | undefined;
}

/** The set root itself is missing, not a directory, or unreadable: nothing can be said about the tree. */
export class ScanRootError extends Error {
  override name = "ScanRootError";
}

/** Children of one directory are stat'ed this many at a time. */
const STAT_BATCH = 64;

/** A child as readdir named it, before lstat. */
type Child =
  | { kind: "entry"; key: string; isDir: boolean }
  | { kind: "invalid"; key: string; reason: "invalid-name" | "too-long"; detail: string };

type Listing = { children: Child[] } | { error: NodeJS.ErrnoException };

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** The path no longer exists as it was listed: skip it, it is gone (or will be seen by the next scan). */
function isGone(error: unknown): boolean {
  const code = errnoOf(error);
  return code === "ENOENT" || code === "ENOTDIR";
}

function problem(key: string, reason: ScanProblem["reason"], detail: string): ScanItem {
  return { kind: "problem", problem: { key, reason, detail } };
}

function asItem(found: ScanProblem): ScanItem {
  return { kind: "problem", problem: found };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function entryType(stats: BigIntStats): EntryType | null {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  if (stats.isSymbolicLink()) return "symlink";
  return null;
}

function specialKind(stats: BigIntStats): string {
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isSocket()) return "a socket";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isCharacterDevice()) return "a character device";
  return "not a file, directory or symlink";
}

function toEntry(key: string, type: EntryType, stats: BigIntStats, target?: string): LocalEntry {
  const entry: LocalEntry = {
    key,
    type,
    size: type === "file" ? Number(stats.size) : 0,
    mtimeMs: Number(stats.mtimeMs),
    mtimeNs: stats.mtimeNs,
    ctimeNs: stats.ctimeNs,
    inode: stats.ino,
    dev: stats.dev,
    mode: Number(stats.mode) & 0o7777,
    uid: Number(stats.uid),
    gid: Number(stats.gid),
  };
  if (target !== undefined) entry.target = target;
  return entry;
}

/** UTF-8 text of a name, or null when the bytes are not valid UTF-8 (they would not survive a round trip). */
function decodeName(raw: Buffer): string | null {
  return isUtf8(raw) ? raw.toString("utf8") : null;
}

async function listDirectory(root: string, dirKey: string, context: ListContext): Promise<Listing> {
  const { ignored, onTempFile, prefix } = context;
  let dirents: Dirent<Buffer>[];
  try {
    dirents = await readdir(join(root, keyToRelPath(dirKey)), { encoding: "buffer", withFileTypes: true });
  } catch (error) {
    return { error: error as NodeJS.ErrnoException };
  }
  const children: Child[] = [];
  for (const dirent of dirents) {
    const isDir = dirent.isDirectory();
    const name = decodeName(dirent.name);
    if (name === null) {
      const hex = dirent.name.toString("hex");
      children.push({
        kind: "invalid",
        key: dirKey + dirent.name.toString("utf8"),
        reason: "invalid-name",
        detail: `name is not UTF-8 (hex ${hex})`,
      });
      continue;
    }
    if (!isDir && name.startsWith(TEMP_NAME_PREFIX)) onTempFile?.(dirKey + name);
    const key = dirKey + name + (isDir ? "/" : "");
    if (ignored(key)) continue;
    const refused = validateEntryKey(key);
    const overflow = refused === null && prefix !== undefined ? objectKeyOverflow(prefix, key) : null;
    if (refused !== null) children.push({ kind: "invalid", key, reason: "invalid-name", detail: refused });
    else if (overflow !== null) children.push({ kind: "invalid", key, reason: "too-long", detail: overflow });
    else children.push({ kind: "entry", key, isDir });
  }
  // A directory sorts by its key (`name/`), which makes this depth-first walk come out in global key order.
  children.sort((a, b) => compareKeys(a.key, b.key));
  return { children };
}

function listContext(options: ScanOptions): ListContext {
  return { ignored: options.ignored, onTempFile: options.onTempFile, prefix: options.prefix };
}

/**
 * lstat without the thread pool, for the walk's one call per entry: on a cached tree the promise API's round
 * trip costs about ten times the system call itself.
 */
function lstatNow(path: string): BigIntStats | { error: unknown } {
  try {
    return lstatSync(path, { bigint: true });
  } catch (error) {
    return { error };
  }
}

async function lstatOrError(path: string): Promise<BigIntStats | { error: unknown }> {
  try {
    return await lstat(path, { bigint: true });
  } catch (error) {
    return { error };
  }
}

/** Reads a symlink's target; a problem when it cannot be synced; null when the link is gone. */
async function readTarget(absPath: string, key: string): Promise<string | ScanProblem | null> {
  let raw: Buffer;
  try {
    raw = await readlink(absPath, { encoding: "buffer" });
  } catch (error) {
    if (isGone(error)) return null;
    if (errnoOf(error) === "EINVAL")
      return { key, reason: "vanished", detail: "changed type during the scan" };
    return { key, reason: "unreadable", detail: describe(error) };
  }
  const target = decodeName(raw);
  if (target !== null) return target;
  return { key, reason: "invalid-name", detail: `symlink target is not UTF-8 (hex ${raw.toString("hex")})` };
}

async function* walkChildren(
  root: string,
  children: Child[],
  context: ListContext,
): AsyncGenerator<ScanItem> {
  for (let start = 0; start < children.length; start += STAT_BATCH) {
    const batch = children.slice(start, start + STAT_BATCH);
    // Keys are validated names under the root (no `.`, `..` or empty segments), so no join() is needed.
    const paths = batch.map((child) => `${root}/${keyToRelPath(child.key)}`);
    const stats = batch.map((child, i) => (child.kind === "entry" ? lstatNow(paths[i]!) : null));
    for (let i = 0; i < batch.length; i++) {
      const child = batch[i]!;
      const result = stats[i]!;
      if (child.kind === "invalid") {
        yield problem(child.key, child.reason, child.detail);
        continue;
      }
      if (result === null) continue;
      if ("error" in result) {
        if (!isGone(result.error)) yield problem(child.key, "unreadable", describe(result.error));
        continue;
      }
      const type = entryType(result);
      if (type === null) {
        yield problem(child.key, "special-file", `${specialKind(result)}; not synced`);
        continue;
      }
      if ((type === "dir") !== child.isDir) {
        yield problem(child.key, "vanished", "changed type during the scan");
        continue;
      }
      const absPath = paths[i]!;
      if (type === "symlink") {
        const target = await readTarget(absPath, child.key);
        if (typeof target === "string")
          yield { kind: "entry", entry: toEntry(child.key, type, result, target) };
        else if (target !== null) yield asItem(target);
        continue;
      }
      if (type === "file") {
        yield { kind: "entry", entry: toEntry(child.key, type, result) };
        continue;
      }
      // Read the directory before reporting it: a directory that vanished is skipped with its subtree, and an
      // unreadable one is reported only as a problem, so its known contents are not taken as deleted.
      const listing = await listDirectory(root, child.key, context);
      if ("error" in listing) {
        if (!isGone(listing.error)) yield problem(child.key, "unreadable", describe(listing.error));
        continue;
      }
      yield { kind: "entry", entry: toEntry(child.key, type, result) };
      yield* walkChildren(root, listing.children, context);
    }
  }
}

/**
 * Walks the tree under `root` depth-first and yields every entry (not the root itself) and every problem,
 * in entry-key order (compareKeys). Holds only the listings of the directories currently open.
 * Symlinks are reported, never followed. Ignored paths and the agent's temporary files are skipped;
 * entries that vanish mid-scan are skipped. A problem's key and, for a directory or an entry of unknown
 * type, its subtree were not read (see problemCovers).
 */
export async function* scanTree(root: string, options: ScanOptions): AsyncGenerator<ScanItem> {
  let rootStats;
  try {
    rootStats = await stat(root);
  } catch (error) {
    const what = isGone(error) ? "is missing" : `cannot be read: ${describe(error)}`;
    throw new ScanRootError(`set root ${root} ${what}`, { cause: error });
  }
  if (!rootStats.isDirectory()) throw new ScanRootError(`set root ${root} is not a directory`);
  const context = listContext(options);
  const listing = await listDirectory(root, "", context);
  if ("error" in listing) {
    throw new ScanRootError(`set root ${root} cannot be read: ${describe(listing.error)}`, {
      cause: listing.error,
    });
  }
  yield* walkChildren(root, listing.children, context);
}

/**
 * Checks that every directory on the way to `key` (exclusive) is a real directory inside the root, as the
 * walk would reach it without following symlinks. Returns the problem for an unreadable step, "absent"
 * when the chain is broken, or null when it is sound.
 */
async function checkAncestors(root: string, key: string): Promise<ScanProblem | "absent" | null> {
  const relPath = keyToRelPath(key);
  for (let slash = relPath.indexOf("/"); slash !== -1; slash = relPath.indexOf("/", slash + 1)) {
    const result = await lstatOrError(join(root, relPath.slice(0, slash)));
    if ("error" in result) {
      return isGone(result.error) ? "absent" : { key, reason: "unreadable", detail: describe(result.error) };
    }
    if (!result.isDirectory()) return "absent";
  }
  return null;
}

/**
 * Yields the entries under one directory (`dirKey` ends in `/`; the directory itself is not yielded), in
 * key order, for a targeted rescan. Yields nothing when the directory is gone, is not a directory, or is
 * ignored; a problem for `dirKey` when it cannot be read.
 */
export async function* scanSubtree(
  root: string,
  dirKey: string,
  options: ScanOptions,
): AsyncGenerator<ScanItem> {
  if (dirKey === "") {
    yield* scanTree(root, options);
    return;
  }
  if (!isDirKey(dirKey)) throw new TypeError(`scanSubtree needs a directory key, got ${dirKey}`);
  const refused = validateEntryKey(dirKey);
  if (refused !== null) {
    yield problem(dirKey, "invalid-name", refused);
    return;
  }
  const context = listContext(options);
  if (context.ignored(dirKey)) return;
  const overflow = options.prefix === undefined ? null : objectKeyOverflow(options.prefix, dirKey);
  if (overflow !== null) {
    yield problem(dirKey, "too-long", overflow);
    return;
  }
  const ancestors = await checkAncestors(root, dirKey);
  if (ancestors === "absent") return;
  if (ancestors !== null) {
    yield asItem(ancestors);
    return;
  }
  const self = await lstatOrError(join(root, keyToRelPath(dirKey)));
  if ("error" in self) {
    if (!isGone(self.error)) yield problem(dirKey, "unreadable", describe(self.error));
    return;
  }
  if (!self.isDirectory()) return;
  const listing = await listDirectory(root, dirKey, context);
  if ("error" in listing) {
    if (!isGone(listing.error)) yield problem(dirKey, "unreadable", describe(listing.error));
    return;
  }
  yield* walkChildren(root, listing.children, context);
}

/**
 * The entry at one key, as the walk would report it, or null when there is none. The returned entry's key
 * follows what is on disk: asking for `a/` when `a` is now a file returns the file `a`. Ignore rules are
 * not applied.
 */
export async function statEntry(root: string, key: string): Promise<LocalEntry | ScanProblem | null> {
  const refused = validateEntryKey(key);
  if (refused !== null) return { key, reason: "invalid-name", detail: refused };
  const ancestors = await checkAncestors(root, key);
  if (ancestors === "absent") return null;
  if (ancestors !== null) return ancestors;
  const relPath = keyToRelPath(key);
  const absPath = join(root, relPath);
  const result = await lstatOrError(absPath);
  if ("error" in result) {
    return isGone(result.error) ? null : { key, reason: "unreadable", detail: describe(result.error) };
  }
  const type = entryType(result);
  if (type === null) return { key, reason: "special-file", detail: `${specialKind(result)}; not synced` };
  const actualKey = type === "dir" ? `${relPath}/` : relPath;
  if (type !== "symlink") return toEntry(actualKey, type, result);
  const target = await readTarget(absPath, actualKey);
  return typeof target === "string" ? toEntry(actualKey, type, result, target) : target;
}
