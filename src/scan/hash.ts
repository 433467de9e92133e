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
    if (!(await handle.stat()).isFile()) throw new NotRegularFileError(`${absPath} is not a regular file`);
    const hash = createHash("sha256");
    for await (const chunk of handle.createReadStream({
      highWaterMark: READ_BUFFER_BYTES,
      autoClose: false,
    })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest("hex");
  } finally {
    await handle.close();
  }
}
