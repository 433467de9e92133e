import type { Readable } from "node:stream";

/** The body did not hold exactly the announced number of bytes (a file changed while it was read). */
export class BodySizeError extends Error {
  constructor(expected: number, actual: string) {
    super(`the upload body was announced as ${expected} bytes but ${actual}`);
    this.name = "BodySizeError";
  }
}

/**
 * Cuts a stream of exactly `size` bytes into buffers of `partSize` bytes (the last one shorter). Fails with
 * BodySizeError when the stream is shorter or longer than `size`.
 *
 * With `reuse`, the generator cycles through that many part buffers instead of allocating one per part, so
 * memory stays at `reuse` parts however long the body: a yielded buffer is overwritten `reuse` parts later,
 * so the caller must be done with it by then.
 */
export async function* readParts(
  body: Readable,
  size: number,
  partSize: number,
  reuse?: number,
): AsyncGenerator<Buffer> {
  const pool: Buffer[] = [];
  let partIndex = 0;
  const allocate = (length: number): Buffer => {
    if (reuse === undefined) return Buffer.allocUnsafe(length);
    const slot = partIndex % reuse;
    pool[slot] ??= Buffer.allocUnsafe(partSize);
    return (pool[slot] as Buffer).subarray(0, length);
  };
  let part: Buffer | undefined;
  let filled = 0;
  let total = 0;
  for await (const piece of body) {
    const chunk: Buffer = typeof piece === "string" ? Buffer.from(piece) : (piece as Buffer);
    if (total + chunk.length > size) throw new BodySizeError(size, "it held more");
    total += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      part ??= allocate(Math.min(partSize, size - (total - chunk.length + offset)));
      const copied = chunk.copy(part, filled, offset);
      filled += copied;
      offset += copied;
      if (filled === part.length) {
        yield part;
        partIndex++;
        part = undefined;
        filled = 0;
      }
    }
  }
  if (total !== size) throw new BodySizeError(size, `it ended after ${total}`);
  if (size === 0) yield Buffer.alloc(0);
}

/** Reads the whole (small) body into one buffer, checking its size. */
export async function readBody(body: Readable, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of readParts(body, size, Math.max(size, 1))) parts.push(part);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}
