import { readdirSync, utimesSync } from "node:fs";
import { join } from "node:path";

export interface PassSummary {
  up: number;
  down: number;
  deletedHere: number;
  deletedRemotely: number;
  conflicts: number;
  failed: number;
}

const SUMMARY =
  /pass (?:complete|finished with errors): (\d+) up, (\d+) down, (\d+) deleted here, (\d+) deleted remotely, (\d+) conflicts, (\d+) failed/;

/** The counts of the summary line `fedsync sync` logs at the end of a pass; throws when there is none. */
export function passSummary(stderr: string): PassSummary {
  const match = SUMMARY.exec(stderr);
  if (!match) throw new Error(`no pass summary in:\n${stderr}`);
  const [up, down, deletedHere, deletedRemotely, conflicts, failed] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { up, down, deletedHere, deletedRemotely, conflicts, failed };
}

/** Whether a pass changed anything on either side. */
export function changedAnything(summary: PassSummary): boolean {
  return summary.up + summary.down + summary.deletedHere + summary.deletedRemotely + summary.conflicts > 0;
}

/** Relative paths of every `.fedsync-tmp-*` entry under `root`. */
export function tempFilesUnder(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith(".fedsync-tmp-")) found.push(prefix + entry.name);
      else if (entry.isDirectory()) walk(join(dir, entry.name), `${prefix}${entry.name}/`);
    }
  };
  walk(root, "");
  return found;
}

/** Sets the mtime of every file under `root` to `at`, like a web root that was last deployed a while ago. */
export function ageTree(root: string, at: Date): void {
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) utimesSync(join(entry.parentPath, entry.name), at, at);
  }
}

/** The entries two tree snapshots disagree on, one line each (empty when they are equal). */
export function treeDifferences<T>(
  left: Map<string, T>,
  right: Map<string, T>,
  names = ["left", "right"],
): string[] {
  const lines: string[] = [];
  for (const key of [...new Set([...left.keys(), ...right.keys()])].sort()) {
    const [a, b] = [left.get(key), right.get(key)];
    if (JSON.stringify(a) === JSON.stringify(b)) continue;
    lines.push(
      `${key}: ${names[0]} ${JSON.stringify(a) ?? "absent"}, ${names[1]} ${JSON.stringify(b) ?? "absent"}`,
    );
  }
  return lines;
}
