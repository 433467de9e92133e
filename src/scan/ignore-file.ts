import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { ignoreLineProblem, isBlankOrComment } from "../config/ignore-rule.js";

/** An ignore file larger than this is refused: it is written by local users, and every rule costs every path. */
export const MAX_IGNORE_FILE_BYTES = 64 * 1024;

export interface SkippedLine {
  /** 1-based line number. */
  line: number;
  text: string;
  problem: string;
}

export interface IgnoreFileRules {
  /** The rule lines, in file order, as gitignore reads them (comments and blank lines left out). */
  rules: string[];
  /** Lines that can never match, left out. */
  skipped: SkippedLine[];
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Splits an ignore file's bytes into rules the way git reads a .gitignore (LF or CRLF, an optional BOM). */
export function parseIgnoreFile(bytes: Buffer): IgnoreFileRules {
  const text = bytes.subarray(0, 3).equals(BOM) ? bytes.subarray(3) : bytes;
  const result: IgnoreFileRules = { rules: [], skipped: [] };
  let start = 0;
  for (let number = 1; start < text.length; number++) {
    const newline = text.indexOf(0x0a, start);
    const end = newline === -1 ? text.length : newline;
    const raw = text.subarray(start, end > start && text[end - 1] === 0x0d ? end - 1 : end);
    start = end + 1;
    let line: string;
    try {
      line = utf8.decode(raw);
    } catch {
      result.skipped.push({ line: number, text: raw.toString("utf8"), problem: "is not UTF-8" });
      continue;
    }
    if (isBlankOrComment(line)) continue;
    const problem = ignoreLineProblem(line);
    if (problem === undefined) result.rules.push(line);
    else result.skipped.push({ line: number, text: line, problem });
  }
  return result;
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ELOOP") return "is a symlink (not followed)";
  return `cannot be read: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Reads the ignore file `name` at the set root: its rules, none when there is no such file, or why it
 * cannot be used. It is written by local users, so it is opened without following a symlink and without
 * blocking on a FIFO, and must be a regular file of at most MAX_IGNORE_FILE_BYTES.
 */
export async function readIgnoreFile(
  root: string,
  name: string,
): Promise<IgnoreFileRules | { error: string }> {
  const path = join(root, name);
  let handle;
  try {
    handle = await open(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY,
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { rules: [], skipped: [] };
    return { error: `ignore file ${path} ${describe(error)}` };
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return { error: `ignore file ${path} is not a regular file` };
    const tooLarge = { error: `ignore file ${path} is larger than ${MAX_IGNORE_FILE_BYTES} bytes` };
    if (stats.size > MAX_IGNORE_FILE_BYTES) return tooLarge;
    // One byte more than the limit tells a file that grew since the stat.
    const buffer = Buffer.alloc(MAX_IGNORE_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_IGNORE_FILE_BYTES) return tooLarge;
    }
    return parseIgnoreFile(buffer.subarray(0, length));
  } catch (error) {
    return { error: `ignore file ${path} ${describe(error)}` };
  } finally {
    await handle.close();
  }
}
