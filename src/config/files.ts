import { readFileSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export type FileText = { text: string } | { problem: string };

const FS_PROBLEMS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "a parent is not a directory",
  ELOOP: "too many symbolic links",
};

/** A short reason for a failed file operation, without repeating the path. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code) return FS_PROBLEMS[code] ?? code;
  return error instanceof Error ? error.message : String(error);
}

export function readTextFile(file: string): FileText {
  try {
    return { text: readFileSync(file, "utf8") };
  } catch (error) {
    return { problem: `cannot read ${file} (${describeFsError(error)})` };
  }
}

/** Reads a secret, refusing a file that anyone but its owner may read or write. The secret never enters a message. */
export function readSecretFile(file: string): FileText {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (error) {
    return { problem: `cannot read ${file} (${describeFsError(error)})` };
  }
  if ((mode & 0o077) !== 0) return { problem: `${file} is readable by group or others (chmod 600 it)` };
  const read = readTextFile(file);
  if ("problem" in read) return read;
  const text = read.text.trim();
  return text === "" ? { problem: `${file} is empty` } : { text };
}

/** Reads a CA bundle: PEM text with at least one certificate. */
export function readPemFile(file: string): FileText {
  const read = readTextFile(file);
  if ("problem" in read) return read;
  return read.text.includes("-----BEGIN CERTIFICATE-----")
    ? read
    : { problem: `${file} does not contain a PEM certificate` };
}

/**
 * The path with every symlink along it resolved, as far as it exists (a set root may not exist yet): two
 * paths that differ only through a symlink resolve alike. Undefined stays undefined.
 */
export function resolvedPath(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(resolvedPath(parent)!, basename(path));
  }
}
