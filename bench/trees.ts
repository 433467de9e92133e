import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

const FILES_PER_DIR = 1000;

/** The relative path of file number `index` in a generated tree: 1,000 files per directory. */
export function treePath(index: number): string {
  const dir = Math.floor(index / FILES_PER_DIR);
  return `d${String(dir).padStart(4, "0")}/f${String(index).padStart(7, "0")}.dat`;
}

/** Contents unique per file and generation, so every write changes the bytes (and the hash). */
function contents(template: Buffer, index: number, generation: number): Buffer {
  const body = Buffer.from(template);
  const stamp = Buffer.alloc(16);
  stamp.writeUInt32LE(index, 0);
  stamp.writeUInt32LE(generation, 4);
  stamp.copy(body, 0, 0, Math.min(16, body.length));
  return body;
}

/** Writes `count` files of `size` bytes under `root` (1,000 per directory). */
export function writeTreeFiles(root: string, count: number, size: number): void {
  const template = randomBytes(size);
  for (let dir = 0; dir * FILES_PER_DIR < count; dir++) {
    mkdirSync(join(root, treePath(dir * FILES_PER_DIR), ".."), { recursive: true });
  }
  for (let index = 0; index < count; index++) {
    writeFileSync(join(root, treePath(index)), contents(template, index, 0));
  }
}

/** Rewrites the given files with new contents of the same size. */
export function rewriteTreeFiles(
  root: string,
  indices: readonly number[],
  size: number,
  generation: number,
): void {
  const template = randomBytes(size);
  for (const index of indices)
    writeFileSync(join(root, treePath(index)), contents(template, index, generation));
}

/** Writes one file of `bytes` random bytes, in 8 MiB writes. */
export function writeBigFile(path: string, bytes: number): void {
  const chunk = randomBytes(8 * 1024 * 1024);
  const fd = openSync(path, "w");
  try {
    for (let written = 0; written < bytes;) {
      const length = Math.min(chunk.length, bytes - written);
      writeSync(fd, chunk, 0, length);
      written += length;
      // Vary the chunks so no two parts of the file are the same.
      chunk.writeUInt32LE(written, 0);
    }
  } finally {
    closeSync(fd);
  }
}
