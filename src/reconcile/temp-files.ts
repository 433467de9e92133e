import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { unlink } from "node:fs/promises";
import { TEMP_NAME_PREFIX } from "../config/names.js";
import { openDirectory } from "../scan/anchored.js";
import { absolutePath, errno } from "./localfs.js";

/** Temp files being written right now, removed on shutdown so an abandoned write leaves nothing behind. */
export const activeTemps = new Set<string>();

export function tempName(): string {
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
