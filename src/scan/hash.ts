import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { openParent, RefusedError } from "./anchored.js";

/** Thrown when the path is no longer a regular file (replaced by a symlink, FIFO, directory...). */
export class NotRegularFileError extends Error {
  override name = "NotRegularFileError";
}

const READ_BUFFER_BYTES = 1024 * 1024;
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** The identity a scan saw, which the file opened later must still have. */
export interface FileIdentity {
  dev: bigint;
  inode: bigint;
}

/** A scanned file: its identity, and the size and mtime its bytes must still go with once read. */
export interface ScannedFile extends FileIdentity {
  size: number;
  mtimeNs: bigint;
}

async function openRegular(path: string, label: string): Promise<FileHandle> {
  let handle;
  try {
    handle = await open(path, READ_FLAGS);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") {
      throw new NotRegularFileError(`${label} is not a regular file (now a symlink)`, { cause: error });
    }
    throw error;
  }
  const stats = await handle.stat();
  if (!stats.isFile()) {
    await handle.close();
    throw new NotRegularFileError(`${label} is not a regular file`);
  }
  return handle;
}

/**
 * Opens the file at `key` under `root` for reading, through the anchored parent (see anchored.ts), without
 * following a symlink and without blocking on a FIFO. With `identity`, the opened file must be the one the
 * scan saw: bytes that are uploaded or hashed for the plan are never another file's.
 */
export async function openTreeFile(root: string, key: string, identity?: FileIdentity): Promise<FileHandle> {
  const parent = await openParent(root, key, false);
  if (!parent) throw Object.assign(new Error(`${key} vanished`), { code: "ENOENT" });
  let handle;
  try {
    handle = await openRegular(parent.dir.at(parent.name), key);
  } finally {
    await parent.dir.close();
  }
  if (identity) {
    const stats = await handle.stat({ bigint: true });
    if (stats.ino !== identity.inode || stats.dev !== identity.dev) {
      await handle.close();
      throw new RefusedError(`${key} was replaced since it was scanned; retrying next pass`);
    }
  }
  return handle;
}

/** SHA-256 of a regular file given by an absolute path (outside any set tree: trash, restore targets). */
export async function sha256File(absPath: string): Promise<string> {
  const handle = await openRegular(absPath, absPath);
  try {
    return (await hashHandle(handle)).sha256;
  } finally {
    await handle.close();
  }
}

/**
 * SHA-256 of the file at `key` in a set tree, which must still be the scanned one, and its bytes when it has
 * at most `keepBytes` (read once, for a caller that may upload them next). The bytes read must be the
 * scanned size, and the file's size and mtime must still be the scanned ones after the read: a file written
 * meanwhile (truncated, then written) could otherwise yield bytes no one wrote, such as its new content cut
 * at its old size.
 */
export async function hashTreeFile(
  root: string,
  key: string,
  scanned: ScannedFile,
  keepBytes = 0,
): Promise<{ sha256: string; content?: Buffer }> {
  const handle = await openTreeFile(root, key, scanned);
  try {
    const read = await hashHandle(handle, keepBytes);
    const after = await handle.stat({ bigint: true });
    if (
      read.size !== scanned.size ||
      after.size !== BigInt(scanned.size) ||
      after.mtimeNs !== scanned.mtimeNs
    )
      throw new RefusedError(`${key} changed while being read; retrying next pass`);
    return { sha256: read.sha256, ...(read.content && { content: read.content }) };
  } finally {
    await handle.close();
  }
}

async function hashHandle(
  handle: FileHandle,
  keepBytes = 0,
): Promise<{ sha256: string; size: number; content?: Buffer }> {
  const size = (await handle.stat()).size;
  if (size <= keepBytes) {
    const content = await handle.readFile();
    const sha256 = createHash("sha256").update(content).digest("hex");
    return content.length <= keepBytes
      ? { sha256, size: content.length, content }
      : { sha256, size: content.length };
  }
  const hash = createHash("sha256");
  // One buffer per file, sized to it (plus one byte, so the read that finds the end is the second): a
  // read stream would allocate a fresh 1 MiB buffer for every read, even of a 4 KiB file.
  const buffer = Buffer.allocUnsafe(Math.min(READ_BUFFER_BYTES, size + 1));
  let read = 0;
  while (true) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) break;
    hash.update(buffer.subarray(0, bytesRead));
    read += bytesRead;
  }
  return { sha256: hash.digest("hex"), size: read };
}
