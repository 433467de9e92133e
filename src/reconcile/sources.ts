import type { SetConfig } from "../config/types.js";
import type { Datastore, ObjectInfo } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import type { FileRow } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { compareKeys, isDirKey, type LocalEntry, type ScanItem, type ScanProblem } from "../scan/entry.js";
import { compileIgnore, isIgnoredKey } from "../scan/ignore.js";
import { entryKeyToObjectKey, objectKeyToEntryKey } from "../scan/keys.js";
import { scanSubtree, statEntry } from "../scan/walk.js";
import { tombstonePrefix } from "./layout.js";
import { mergeByKey } from "./merge.js";

/** What a pass looks at: the whole set, one directory's subtree, or a list of keys (the lightweight path). */
export type PassScope =
  { kind: "full" } | { kind: "subtree"; dirKey: string } | { kind: "keys"; keys: string[] };

export interface LocalItem {
  key: string;
  entry?: LocalEntry;
  problem?: ScanProblem;
}

export interface Listed {
  key: string;
  info: ObjectInfo;
}

export type KeyedRow = FileRow & { key: string };

/** One key with what each side holds at it. */
export interface Joined {
  key: string;
  local?: LocalItem;
  row?: KeyedRow;
  remote?: Listed;
  tombstone?: Listed;
}

interface SourceDeps {
  set: SetConfig;
  journal: Journal;
  datastore: Datastore;
  logger: Logger;
}

async function* localItems(scan: AsyncIterable<ScanItem>): AsyncGenerator<LocalItem> {
  for await (const item of scan) {
    if (item.kind === "entry") yield { key: item.entry.key, entry: item.entry };
    else yield { key: item.problem.key, problem: item.problem };
  }
}

async function* listed(
  deps: SourceDeps,
  prefix: string,
  under: string,
  ignored: (key: string) => boolean,
): AsyncGenerator<Listed> {
  for await (const info of deps.datastore.list(prefix + under, { withMetadata: true })) {
    const mapped = objectKeyToEntryKey(prefix, info.key);
    if ("refused" in mapped) {
      logOnce(
        deps.logger,
        `refused:${info.key}`,
        "warn",
        `skipping object ${JSON.stringify(info.key)}: ${mapped.refused}`,
      );
      continue;
    }
    if (!ignored(mapped.key)) yield { key: mapped.key, info };
  }
}

function* journalRows(rows: Iterable<FileRow>, ignored: (key: string) => boolean): Generator<KeyedRow> {
  for (const row of rows) {
    if (!ignored(row.path)) yield { ...row, key: row.path };
  }
}

/**
 * The sorted, merged view of a set (or a subtree of it): local scan, journal, bucket and tombstones.
 * `onTempFile` hears of each temp file the scan skips.
 */
export function joinTree(
  deps: SourceDeps,
  dirKey: string,
  onTempFile?: (key: string) => void,
): AsyncGenerator<Joined> {
  const { set, journal } = deps;
  const test = compileIgnore(set.ignore);
  const ignored = (key: string) => isIgnoredKey(test, key);
  return mergeByKey<{ local: LocalItem; row: KeyedRow; remote: Listed; tombstone: Listed }>({
    local: localItems(scanSubtree(set.path, dirKey, { ignore: set.ignore, onTempFile })),
    row: journalRows(
      dirKey === "" ? journal.filesInOrder(set.name) : journal.filesUnder(set.name, dirKey),
      ignored,
    ),
    remote: listed(deps, set.prefix, dirKey, ignored),
    tombstone: listed(deps, tombstonePrefix(set.name), dirKey, ignored),
  });
}

/** Keys looked up at once by joinKeys (each costs an lstat, a journal read and one or two HEADs). */
const KEY_LOOKUP_BATCH = 64;

async function lookUpKey(deps: SourceDeps, key: string): Promise<Joined> {
  const { set, journal, datastore } = deps;
  const joined: Joined = { key };
  const local = await statEntry(set.path, key);
  if (local && "reason" in local) joined.local = { key, problem: local };
  else if (local && local.key === key) joined.local = { key, entry: local };
  const row = journal.getFile(set.name, key);
  if (row) joined.row = { ...row, key };
  const info = await datastore.stat(entryKeyToObjectKey(set.prefix, key));
  if (info) joined.remote = { key, info };
  if (joined.local?.entry && !row && !info) {
    const tombstone = await datastore.stat(tombstonePrefix(set.name) + key);
    if (tombstone) joined.tombstone = { key, info: tombstone };
  }
  return joined;
}

/** The same view for individual keys, in key order, looked up a batch at a time. */
export async function* joinKeys(deps: SourceDeps, keys: string[]): AsyncGenerator<Joined> {
  const test = compileIgnore(deps.set.ignore);
  const unique = [...new Set(keys)].filter((key) => !isIgnoredKey(test, key)).sort(compareKeys);
  for (let start = 0; start < unique.length; start += KEY_LOOKUP_BATCH) {
    const batch = unique.slice(start, start + KEY_LOOKUP_BATCH);
    for (const joined of await Promise.all(batch.map((key) => lookUpKey(deps, key)))) {
      if (joined.local || joined.row || joined.remote || joined.tombstone) yield joined;
    }
  }
}

/** Tracks the subtrees a scan could not read, so nothing under them is treated as deleted. */
export class UnknownSubtrees {
  private prefixes: string[] = [];

  add(problem: ScanProblem): void {
    this.prefixes.push(problem.key);
    if (!isDirKey(problem.key)) this.prefixes.push(`${problem.key}/`);
  }

  covers(key: string): boolean {
    return this.prefixes.some((prefix) => key === prefix || (isDirKey(prefix) && key.startsWith(prefix)));
  }
}
