import type { SetConfig } from "../config/types.js";
import type { Datastore, ObjectInfo } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import type { FileRow } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { compareKeys, isDirKey, type LocalEntry, type ScanItem, type ScanProblem } from "../scan/entry.js";
import type { IgnoreTest } from "../scan/ignore.js";
import { entryKeyToObjectKey, objectKeyOverflow, objectKeyToEntryKey } from "../scan/keys.js";
import { scanSubtree, statEntry } from "../scan/walk.js";
import { tombstonePrefix } from "../datastore/layout.js";
import type { RecordedChange } from "./changelog.js";
import { mergeByKey } from "./merge.js";

/** What a pass looks at: the whole set, one directory's subtree, or a list of keys (the lightweight path). */
export type PassScope =
  | { kind: "full" }
  | { kind: "subtree"; dirKey: string }
  /** `recorded`: what other writers' change-log records say some of the keys hold, to check the bucket against. */
  | { kind: "keys"; keys: string[]; recorded?: RecordedChange[] };

export interface LocalItem {
  key: string;
  entry?: LocalEntry;
  problem?: ScanProblem;
}

export interface Listed {
  key: string;
  info: ObjectInfo;
  /**
   * The object is the version its journal row last agreed with (same ETag and Last-Modified), so its
   * metadata was not fetched: the row says what it holds.
   */
  current?: boolean;
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
  /** The set's ignore rules: an ignored key is left out of every stream alike, so no side sees it. */
  ignored: IgnoreTest;
}

export interface JoinHooks {
  /** Hears of each temp file the scan skips. */
  onTempFile?: (key: string) => void;
  /** Hears of each journal row whose key is ignored. */
  onIgnoredRow?: (key: string) => void;
}

async function* localItems(scan: AsyncIterable<ScanItem>): AsyncGenerator<LocalItem> {
  for await (const item of scan) {
    if (item.kind === "entry") yield { key: item.entry.key, entry: item.entry };
    else yield { key: item.problem.key, problem: item.problem };
  }
}

type ListedObject = Pick<Listed, "info" | "current">;

async function* withMetadata(datastore: Datastore, prefix: string): AsyncGenerator<ListedObject> {
  for await (const info of datastore.list(prefix, { withMetadata: true })) yield { info };
}

/** Objects per listing page (the S3 maximum). */
const PAGE_SIZE = 1000;
/** A page where more than this many objects differ from the journal makes the next one fetched with metadata. */
const NEWS_PER_PAGE = PAGE_SIZE / 10;

interface Page {
  items: ObjectInfo[];
  truncated: boolean;
  detailed: boolean;
}

/**
 * The set's objects, listed without user metadata where they are the versions their journal rows last agreed
 * with (same ETag and Last-Modified): a metadata listing costs MinIO about twice as much, and only a new or
 * changed object's metadata is ever read. A page is fetched with metadata when the journal expects news in
 * it (rows written by uploads, whose objects' Last-Modified it has not seen, or a previous page full of
 * news), and listed again with metadata when a page fetched without holds news after all.
 */
async function* againstJournal(
  deps: SourceDeps,
  prefix: string,
  under: string,
): AsyncGenerator<ListedObject> {
  const { datastore, journal, set, ignored } = deps;
  const entryKey = (objectKey: string) => objectKey.slice(prefix.length);
  const countNews = (items: ObjectInfo[]) => {
    const rows = journal.remoteVersionsBetween(
      set.name,
      entryKey(items[0]!.key),
      entryKey(items[items.length - 1]!.key),
    );
    return items.filter((info) => {
      const mapped = objectKeyToEntryKey(prefix, info.key);
      if ("refused" in mapped || ignored(mapped.key)) return false;
      const row = rows.get(mapped.key);
      return row?.etag !== info.etag || row.lastModified !== info.lastModified.getTime();
    }).length;
  };
  const fetchPage = (startAfter: string | undefined, detailed: boolean): Promise<Page> => {
    const page = datastore
      .listOnce(prefix + under, { withMetadata: detailed, startAfter })
      .then((result) => ({ ...result, detailed }));
    // Fetched while the caller works through the previous page; a failure surfaces when it is awaited.
    page.catch(() => undefined);
    return page;
  };
  /** The objects after `startAfter` up to `last`, again, with metadata. */
  const refetch = async (startAfter: string | undefined, last: string): Promise<ListedObject[]> => {
    const objects: ListedObject[] = [];
    for (let after = startAfter; ;) {
      const page = await fetchPage(after, true);
      for (const info of page.items) {
        if (compareKeys(info.key, last) > 0) return objects;
        objects.push({ info });
      }
      if (!page.truncated || page.items.length === 0) return objects;
      after = page.items[page.items.length - 1]!.key;
    }
  };
  const expectsNews = (startAfter: string | undefined) =>
    journal.hasUnlistedRowAfter(set.name, startAfter === undefined ? under : entryKey(startAfter), PAGE_SIZE);

  let startAfter: string | undefined;
  let pending: Promise<Page> | undefined = fetchPage(undefined, expectsNews(undefined));
  while (pending) {
    const page: Page = await pending;
    if (page.items.length === 0) return;
    const last = page.items[page.items.length - 1]!.key;
    const news = countNews(page.items);
    pending = page.truncated ? fetchPage(last, news > NEWS_PER_PAGE || expectsNews(last)) : undefined;
    if (page.detailed) yield* page.items.map((info) => ({ info }));
    else if (news === 0) yield* page.items.map((info) => ({ info, current: true }));
    else yield* await refetch(startAfter, last);
    startAfter = last;
  }
}

async function* listed(
  deps: SourceDeps,
  prefix: string,
  objects: AsyncIterable<ListedObject>,
): AsyncGenerator<Listed> {
  for await (const { info, current } of objects) {
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
    if (!deps.ignored(mapped.key))
      yield current ? { key: mapped.key, info, current } : { key: mapped.key, info };
  }
}

function* journalRows(
  rows: Iterable<FileRow>,
  ignored: IgnoreTest,
  onIgnoredRow?: (key: string) => void,
): Generator<KeyedRow> {
  for (const row of rows) {
    // Each row is a fresh object: it takes its key in place rather than being copied.
    if (!ignored(row.path)) yield Object.assign(row, { key: row.path });
    else onIgnoredRow?.(row.path);
  }
}

/**
 * Where a pass over the tree takes the bucket's side from: a listing of the objects and deletion marks, or
 * the journal's record of the versions last agreed with (when the change log shows no other writer since the
 * last listing, the bucket still holds exactly those).
 */
export type BucketView = "listing" | "journal";

/** Each journal row's agreed object as a listing would show it, current; no deletion marks. */
async function* withJournalObjects(joined: AsyncGenerator<Joined>, prefix: string): AsyncGenerator<Joined> {
  for await (const item of joined) {
    const row = item.row;
    if (row?.remoteEtag) {
      const info: ObjectInfo = {
        key: entryKeyToObjectKey(prefix, item.key),
        size: row.size,
        etag: row.remoteEtag,
        lastModified: new Date(row.remoteLastModified ?? row.syncedAt),
      };
      item.remote = { key: item.key, info, current: true };
    }
    yield item;
  }
}

/** The sorted, merged view of a set (or a subtree of it): local scan, journal, bucket and tombstones. */
export function joinTree(
  deps: SourceDeps,
  dirKey: string,
  hooks: JoinHooks = {},
  bucket: BucketView = "listing",
): AsyncGenerator<Joined> {
  const { set, journal, ignored } = deps;
  const none = async function* (): AsyncGenerator<Listed> {};
  const merged = mergeByKey<{ local: LocalItem; row: KeyedRow; remote: Listed; tombstone: Listed }>({
    local: localItems(
      scanSubtree(set.path, dirKey, { ignored, onTempFile: hooks.onTempFile, prefix: set.prefix }),
    ),
    row: journalRows(
      dirKey === "" ? journal.filesInOrder(set.name) : journal.filesUnder(set.name, dirKey),
      ignored,
      hooks.onIgnoredRow,
    ),
    remote:
      bucket === "journal" ? none() : listed(deps, set.prefix, againstJournal(deps, set.prefix, dirKey)),
    tombstone:
      bucket === "journal"
        ? none()
        : listed(
            deps,
            tombstonePrefix(set.name),
            withMetadata(deps.datastore, tombstonePrefix(set.name) + dirKey),
          ),
  });
  const joined = bucket === "journal" ? withJournalObjects(merged, set.prefix) : merged;
  return dirKey === "" ? joined : withoutKey(joined, dirKey);
}

/**
 * A subtree's own directory entry is not part of the subtree: the scan does not yield it, so the journal's and
 * the bucket's records of it must not be joined either (they would read as "deleted locally").
 */
async function* withoutKey(joined: AsyncGenerator<Joined>, key: string): AsyncGenerator<Joined> {
  for await (const item of joined) {
    if (item.key !== key) yield item;
  }
}

/** Keys looked up at once by joinKeys (each costs an lstat, a journal read and one or two HEADs). */
const KEY_LOOKUP_BATCH = 64;

export async function lookUpKey(deps: SourceDeps, key: string): Promise<Joined> {
  const { set, journal, datastore } = deps;
  const joined: Joined = { key };
  const object = datastore.stat(entryKeyToObjectKey(set.prefix, key));
  object.catch(() => undefined);
  const local = await statEntry(set.path, key);
  const overflow = local && "type" in local && local.key === key ? objectKeyOverflow(set.prefix, key) : null;
  if (local && overflow !== null)
    joined.local = { key, problem: { key, reason: "too-long", detail: overflow } };
  else if (local && "reason" in local) joined.local = { key, problem: local };
  else if (local && local.key === key) joined.local = { key, entry: local };
  const row = journal.getFile(set.name, key);
  if (row) joined.row = { ...row, key };
  // A local entry the journal does not know is looked up among the tombstones too (deleted elsewhere while
  // this machine had no record?), at the same time as the object: that is the path of every new file. So is
  // a key whose deletion this machine applied: an object there may be the deleted version back (evaluate.ts).
  const markMatters =
    !row &&
    (joined.local?.entry !== undefined ||
      (!joined.local && journal.appliedTombstone(set.name, key) !== undefined));
  const tombstone = markMatters ? datastore.stat(tombstonePrefix(set.name) + key) : undefined;
  tombstone?.catch(() => undefined);
  const info = await object;
  if (info) {
    joined.remote = { key, info };
    const mark = await tombstone;
    if (mark) joined.tombstone = { key, info: mark };
  } else {
    // An object gone from under a file the journal knows: its deletion mark says who deleted it (for the
    // audit trail), as the tombstone listing of a full pass would.
    const mark = await (tombstone ??
      (row && joined.local?.entry ? datastore.stat(tombstonePrefix(set.name) + key) : undefined));
    if (mark) joined.tombstone = { key, info: mark };
  }
  return joined;
}

/** The same view for individual keys, in key order, looked up a batch at a time. */
export async function* joinKeys(deps: SourceDeps, keys: string[]): AsyncGenerator<Joined> {
  const unique = [...new Set(keys)].filter((key) => !deps.ignored(key)).sort(compareKeys);
  for (let start = 0; start < unique.length; start += KEY_LOOKUP_BATCH) {
    const batch = unique.slice(start, start + KEY_LOOKUP_BATCH);
    for (const joined of await Promise.all(batch.map((key) => lookUpKey(deps, key)))) {
      if (joined.local || joined.row || joined.remote || joined.tombstone) yield joined;
    }
  }
}

/**
 * Tracks the subtrees a scan could not read (or must not trust, such as an unmounted mount point), so nothing
 * under them is treated as deleted or written into.
 */
export class UnknownSubtrees {
  private prefixes: string[] = [];

  add(problem: ScanProblem): void {
    this.prefixes.push(problem.key);
    if (!isDirKey(problem.key)) this.prefixes.push(`${problem.key}/`);
  }

  /** A directory (key ending in `/`) whose whole subtree, the directory included, is unknown. */
  addDirectory(dirKey: string): void {
    this.prefixes.push(dirKey);
  }

  covers(key: string): boolean {
    return this.prefixes.some((prefix) => key === prefix || (isDirKey(prefix) && key.startsWith(prefix)));
  }
}
