/**
 * An entry key is the relative path of an entry, `/`-separated, with a trailing `/` for directories
 * (`docs/`, `docs/a.txt`). It is the object key minus the set prefix, the journal's `path` column, and the
 * order of every stream the reconcile pass merges (UTF-8 byte order, which is S3's listing order).
 */
export type EntryType = "file" | "symlink" | "dir";

/** One entry of the local tree, as lstat saw it. */
export interface LocalEntry {
  key: string;
  type: EntryType;
  /** Bytes; 0 for directories and symlinks. */
  size: number;
  /** Whole milliseconds since the epoch. */
  mtimeMs: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  inode: bigint;
  /** Device of the file system holding it: with the inode, the entry's identity; a directory on another
   * device than the root is a mount point. */
  dev: bigint;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target, as readlink returned it. */
  target?: string;
}

/** Something in the tree that cannot be synced; carried as data, reported once, never treated as a deletion. */
export interface ScanProblem {
  key: string;
  reason: "special-file" | "unreadable" | "invalid-name" | "too-long" | "vanished" | "escaping-symlink";
  detail: string;
}

export type ScanItem = { kind: "entry"; entry: LocalEntry } | { kind: "problem"; problem: ScanProblem };

export function isDirKey(key: string): boolean {
  return key.endsWith("/");
}

/** The relative path of an entry key, without the directory's trailing slash. */
export function keyToRelPath(key: string): string {
  return isDirKey(key) ? key.slice(0, -1) : key;
}

/**
 * Compares two strings in UTF-8 byte order (S3's and SQLite's BINARY order). JavaScript's `<` compares
 * UTF-16 code units, which differs when a surrogate pair meets a character above U+E000.
 */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * Whether a journal path lies in what a scan problem leaves unknown: the problem's own key and, when that
 * may be a directory (a key ending in `/`, or an entry whose type could not be read), everything under it.
 * Such paths were not seen by the scan and must not be taken as deleted.
 */
export function problemCovers(problemKey: string, path: string): boolean {
  const relPath = keyToRelPath(problemKey);
  return path === problemKey || path === relPath || path === `${relPath}/` || path.startsWith(`${relPath}/`);
}
