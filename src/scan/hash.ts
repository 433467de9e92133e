import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { open } from "node:fs/promises";

/** Thrown when the path is no longer a regular file (replaced by a symlink, FIFO, directory...). */
export class NotRegularFileError extends Error {
  override name = "NotRegularFileError";
}

const READ_BUFFER_BYTES = 1024 * 1024;

/**
 * SHA-256 of a regular file, hex, streamed. Opened without following a symlink and without blocking on a
 * FIFO, so a path swapped after the scan can neither leak a file from outside the set nor hang the pass.
 */
export async function sha256File(absPath: string): Promise<string> {
  return (await hashFile(absPath)).sha256;
}

/**
 * Like sha256File, and also returns the bytes of a file of at most `keepBytes`, read once (for a caller that
 * may upload them next).
 */
export async function hashFile(
  absPath: string,
  keepBytes = 0,
): Promise<{ sha256: string; content?: Buffer }> {
  let handle;
  try {
    handle = await open(absPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ELOOP") {
      throw new NotRegularFileError(`${absPath} is not a regular file (now a symlink)`, { cause: error });
    }
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new NotRegularFileError(`${absPath} is not a regular file`);
    if (stats.size <= keepBytes) {
      const content = await handle.readFile();
      const sha256 = createHash("sha256").update(content).digest("hex");
      return content.length <= keepBytes ? { sha256, content } : { sha256 };
    }
    const hash = createHash("sha256");
    // One buffer per file, sized to it (plus one byte, so the read that finds the end is the second): a
    // read stream would allocate a fresh 1 MiB buffer for every read, even of a 4 KiB file.
    const buffer = Buffer.allocUnsafe(Math.min(READ_BUFFER_BYTES, stats.size + 1));
    while (true) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    return { sha256: hash.digest("hex") };
  } finally {
    await handle.close();
  }
}
