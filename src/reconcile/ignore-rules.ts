import type { SetConfig } from "../config/types.js";
import type { Journal } from "../journal/journal.js";
import { logOnce, type Logger } from "../log/index.js";
import { compileIgnore, type IgnoreTest } from "../scan/ignore.js";
import { readIgnoreFile } from "../scan/ignore-file.js";

/** The ignore rules a pass applies, or why the set's ignore file cannot be used. */
export type SetIgnore = { rules: string[]; ignored: IgnoreTest } | { error: string };

/**
 * The set's ignore rules as they stand now: the config's `ignore` list, then the rules of its ignore file
 * (read afresh, so an edit applies from the next pass on). A line of the file that can never match is
 * skipped and logged once; a file that cannot be read safely is an error, so nothing is synced by rules
 * that are not the ones its writer meant.
 */
export async function loadSetIgnore(set: SetConfig, logger: Logger): Promise<SetIgnore> {
  if (set.ignoreFile === undefined) return { rules: set.ignore, ignored: compileIgnore(set.ignore) };
  const read = await readIgnoreFile(set.path, set.ignoreFile);
  if ("error" in read) return { error: `${read.error}; nothing synced` };
  for (const { line, text, problem } of read.skipped) {
    logOnce(
      logger,
      `ignore-line:${set.name}:${line}:${text}`,
      "warn",
      `${set.ignoreFile} line ${line} skipped: ${JSON.stringify(text)} ${problem}`,
      { path: set.ignoreFile },
    );
  }
  const rules = [...set.ignore, ...read.rules];
  return { rules, ignored: compileIgnore(rules) };
}

/** The rules the last pass applied (the config's before the first), for a watcher; notices a change. */
export class IgnoreRulesInForce {
  ignored: IgnoreTest;
  private rules?: string;
  private failed = false;

  constructor(set: SetConfig) {
    this.ignored = compileIgnore(set.ignore);
  }

  /**
   * Takes the rules just loaded; true when they differ from the ones loaded before, or when the load before
   * failed (the passes since then synced nothing).
   */
  update(ignore: SetIgnore): boolean {
    if ("error" in ignore) {
      this.failed = true;
      return false;
    }
    const rules = ignore.rules.join("\n");
    const changed = this.failed || (this.rules !== undefined && rules !== this.rules);
    this.rules = rules;
    this.failed = false;
    this.ignored = ignore.ignored;
    return changed;
  }
}

/** Journal rows deleted in one transaction. */
const FORGET_BATCH = 1000;

/**
 * Forgets the journal rows of paths that are now ignored. An ignored path is out of the sync: nothing is
 * done to it on either side, and if it is brought back later it is compared afresh, as on a machine that
 * joins, so a file deleted here while it was ignored is restored from the bucket rather than deleted
 * everywhere.
 */
export class IgnoredRows {
  private keys: string[] = [];
  count = 0;

  constructor(
    private readonly journal: Journal,
    private readonly set: string,
  ) {}

  add(key: string): void {
    this.keys.push(key);
    this.count++;
    if (this.keys.length >= FORGET_BATCH) this.flush();
  }

  flush(): void {
    const keys = this.keys.splice(0);
    this.journal.transaction(() => {
      for (const key of keys) this.journal.deleteFile(this.set, key);
    });
  }
}
