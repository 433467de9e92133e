import Database from "better-sqlite3";
import * as appliedTombstones from "./applied-tombstones.js";
import * as missingObjects from "./missing-objects.js";
import * as awaited from "./awaited-changes.js";
import * as unconfirmed from "./unconfirmed-writes.js";
import * as changeLog from "./change-log.js";
import * as conflicts from "./conflicts.js";
import { JournalDatabase } from "./database.js";
import * as files from "./files.js";
import {
  addHistory,
  countHistory,
  HISTORY_MAX_ROWS,
  pruneHistory,
  readHistory,
  type HistoryFilter,
  type HistoryRow,
  type NewHistoryRow,
} from "./history.js";
import { openJournalFile, type OpenOptions } from "./journal-file.js";
import { loadMigrations, migrate } from "./migrations.js";
import * as pending from "./pending.js";
import * as sets from "./sets.js";
import type { ConflictRow, EntryCounts, FileRow, OutgoingChange, PendingRow, SetState } from "./types.js";

/**
 * The journal: per set, every path as it was when local and remote last agreed, plus the durable queue of
 * dirty paths, per-set pass state, the conflict history and the change-log records already applied.
 * All methods are synchronous; `transaction` groups writes. Each table's queries are in a module of its own.
 */
export class Journal {
  private readonly db: JournalDatabase;
  private fileWriteCount = 0;

  private constructor(
    sqlite: Database.Database,
    readonly file: string,
    readonly readonly: boolean,
  ) {
    this.db = new JournalDatabase(sqlite);
  }

  /** An empty journal that lives in memory only: what a dry run on a machine that never synced plans against. */
  static openInMemory(): Journal {
    const db = new Database(":memory:");
    migrate(db, loadMigrations());
    return new Journal(db, ":memory:", false);
  }

  static open(stateDir: string, options: OpenOptions = {}): Journal {
    const { db, file } = openJournalFile(stateDir, options);
    return new Journal(db, file, options.readonly ?? false);
  }

  close(): void {
    if (this.db.sqlite.open) this.db.sqlite.close();
  }

  /** Runs `fn` in one transaction (a savepoint when nested); a throw rolls it back. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  // files

  getFile(set: string, path: string): FileRow | undefined {
    return files.getFile(this.db, set, path);
  }

  /**
   * Every row of a set with path > `afterPath`, in UTF-8 byte order. Reads a page at a time, so the caller
   * may write to the journal between rows; a page is read once, so writes to rows of the page being
   * yielded are not seen, while rows written beyond it are.
   */
  filesInOrder(set: string, afterPath = "", pageSize = 1000): Generator<FileRow> {
    return files.filesInOrder(this.db, set, afterPath, pageSize);
  }

  /** The directory row `dirKey` (a key ending in `/`) and every row under it, in order, paged. */
  filesUnder(set: string, dirKey: string, pageSize = 1000): Generator<FileRow> {
    return files.filesUnder(this.db, set, dirKey, pageSize);
  }

  /** How many times a `files` row was written or deleted through this instance: a pass that wrote none can reuse the counts it began with. */
  get fileWrites(): number {
    return this.fileWriteCount;
  }

  putFile(row: FileRow): void {
    this.fileWriteCount++;
    files.putFile(this.db, row);
  }

  deleteFile(set: string, path: string): void {
    this.fileWriteCount++;
    files.deleteFile(this.db, set, path);
  }

  /**
   * The bucket version (ETag and Last-Modified) each row between `firstPath` and `lastPath` (inclusive)
   * last agreed with, by path: what a listing is checked against before it is fetched again with metadata.
   */
  remoteVersionsBetween(
    set: string,
    firstPath: string,
    lastPath: string,
  ): Map<string, { etag: string | null; lastModified: number | null }> {
    return files.remoteVersionsBetween(this.db, set, firstPath, lastPath);
  }

  /**
   * Whether one of the next `lookahead` rows after `afterPath` agreed with an object whose Last-Modified the
   * journal has not seen yet (a row written by an upload, until a listing shows it).
   */
  hasUnlistedRowAfter(set: string, afterPath: string, lookahead: number): boolean {
    return files.hasUnlistedRowAfter(this.db, set, afterPath, lookahead);
  }

  /** Records the bucket's own Last-Modified of objects that still match their rows, in one transaction. */
  setRemoteLastModified(
    set: string,
    updates: readonly (readonly [path: string, lastModified: number])[],
  ): void {
    files.setRemoteLastModified(this.db, set, updates);
  }

  /** A set's entries by type. */
  countByType(set: string): EntryCounts {
    return files.countByType(this.db, set);
  }

  /** Files of a set (or every set) whose name marks them as conflict copies, wherever they were made. */
  conflictCopyFiles(set?: string): { set: string; path: string; syncedAt: number }[] {
    return files.conflictCopyFiles(this.db, set);
  }

  // pending

  /**
   * Marks a path dirty. Marking it again keeps `firstSeen`, refreshes the time it was last seen, and adds
   * the reason to the row's comma-separated list of distinct reasons.
   */
  addPending(set: string, path: string, reason: string, now: number = Date.now()): void {
    pending.addPending(this.db, set, path, reason, now);
  }

  /** Up to `limit` dirty paths, in path order. */
  pendingPaths(set: string, limit: number): PendingRow[] {
    return pending.pendingPaths(this.db, set, limit);
  }

  /**
   * Removes dirty paths once handled. With `seenBefore` (a `Date.now()` taken before the paths were
   * read), a path marked again at or after that time stays pending, so an event that arrived while the
   * path was being handled is not lost.
   */
  removePending(set: string, paths: readonly string[], seenBefore?: number): void {
    pending.removePending(this.db, set, paths, seenBefore);
  }

  countPending(set: string): number {
    return pending.countPending(this.db, set);
  }

  // sets

  getSetState(name: string): SetState {
    return sets.getSetState(this.db, name);
  }

  /** Sets the fields present in `patch` (`null` clears one); absent fields keep their value. */
  updateSetState(name: string, patch: sets.SetStatePatch): void {
    sets.updateSetState(this.db, name, patch);
  }

  /** Forgets a set entirely: files, pending paths, state, conflicts, applied log records and deletion marks, unpublished change records. */
  deleteSet(set: string): void {
    this.fileWriteCount++;
    sets.deleteSet(this.db, set);
  }

  // applied tombstones

  /** Notes that this machine applied the deletion mark of `path` whose object was modified at `modified`. */
  recordAppliedTombstone(set: string, path: string, modified: number, at: number): void {
    appliedTombstones.recordAppliedTombstone(this.db, set, path, modified, at);
  }

  /** The Last-Modified of the deletion mark of `path` this machine last applied, if any. */
  appliedTombstone(set: string, path: string): number | undefined {
    return appliedTombstones.appliedTombstone(this.db, set, path);
  }

  forgetAppliedTombstone(set: string, path: string): void {
    appliedTombstones.forgetAppliedTombstone(this.db, set, path);
  }

  /** Drops the notes of deletion marks applied before `before` (the marks themselves have expired). */
  pruneAppliedTombstones(set: string, before: number): number {
    return appliedTombstones.pruneAppliedTombstones(this.db, set, before);
  }

  // objects gone without a deletion mark

  /** Notes that the object of `path` is gone (no deletion mark) at `at`; returns when it was first found gone. */
  noteMissing(set: string, path: string, at: number): number {
    return missingObjects.noteMissing(this.db, set, path, at);
  }

  missingSince(set: string, path: string): number | undefined {
    return missingObjects.missingSince(this.db, set, path);
  }

  forgetMissing(set: string, path: string): void {
    missingObjects.forgetMissing(this.db, set, path);
  }

  /** Objects found gone without a deletion mark whose files wait for a later pass. */
  countMissing(set: string): number {
    return missingObjects.countMissing(this.db, set);
  }

  /** Drops the notes a full pass that began at `since` did not make again. */
  pruneMissing(set: string, since: number): number {
    return missingObjects.pruneMissing(this.db, set, since);
  }

  // this machine's writes made without their condition

  noteUnconfirmed(set: string, path: string, write: unconfirmed.UnconfirmedWrite): void {
    unconfirmed.noteUnconfirmed(this.db, set, path, write);
  }

  unconfirmedWrite(set: string, path: string): unconfirmed.UnconfirmedWrite | undefined {
    return unconfirmed.unconfirmedWrite(this.db, set, path);
  }

  forgetUnconfirmed(set: string, path: string): void {
    unconfirmed.forgetUnconfirmed(this.db, set, path);
  }

  // other writers' changes the bucket does not show yet

  awaitChange(set: string, change: Omit<awaited.AwaitedChange, "firstSeen">, at: number): void {
    awaited.awaitChange(this.db, set, change, at);
  }

  awaitedChanges(set: string): awaited.AwaitedChange[] {
    return awaited.awaitedChanges(this.db, set);
  }

  countAwaited(set: string): number {
    return awaited.countAwaited(this.db, set);
  }

  forgetAwaited(set: string, path: string): void {
    awaited.forgetAwaited(this.db, set, path);
  }

  // conflicts

  addConflict(row: Omit<ConflictRow, "id">): number {
    return conflicts.addConflict(this.db, row);
  }

  /** Conflicts, oldest first; of one set when `set` is given. */
  listConflicts(set?: string): ConflictRow[] {
    return conflicts.listConflicts(this.db, set);
  }

  // change-log records not yet published (the outbox)

  /** Notes a change about to be written to the bucket; returns its id for `changeWritten`. */
  noteChange(set: string, change: OutgoingChange): number {
    return changeLog.noteChange(this.db, set, change);
  }

  /** The change is in the bucket (or its write failed): its record may be published. */
  changeWritten(id: number, etag?: string): void {
    changeLog.changeWritten(this.db, id, etag);
  }

  /** Records ready to publish, oldest first, at most `limit`. */
  readyChanges(set: string, limit: number): (OutgoingChange & { id: number })[] {
    return changeLog.readyChanges(this.db, set, limit);
  }

  /** Removes records a change-log object now holds. */
  changesPublished(ids: readonly number[]): void {
    changeLog.changesPublished(this.db, ids);
  }

  /**
   * Marks every noted change ready: called by the process that takes the state lock, so any change still in
   * flight was noted by a process that died, and may have reached the bucket.
   */
  adoptUnfinishedChanges(): number {
    return changeLog.adoptUnfinishedChanges(this.db);
  }

  // change-log records already applied

  markLogApplied(set: string, key: string): void {
    changeLog.markLogApplied(this.db, set, key);
  }

  isLogApplied(set: string, key: string): boolean {
    return changeLog.isLogApplied(this.db, set, key);
  }

  /** Forgets applied records whose key sorts before `beforeKey`; returns how many. */
  pruneAppliedLog(set: string, beforeKey: string): number {
    return changeLog.pruneAppliedLog(this.db, set, beforeKey);
  }

  // history (the audit trail)

  addHistory(row: NewHistoryRow): number {
    return addHistory(this.db, row);
  }

  /** Rows matching `filter`, newest first, read as the caller iterates (stop early to read less). */
  history(filter: HistoryFilter = {}): Generator<HistoryRow> {
    return readHistory(this.db, filter);
  }

  countHistory(): number {
    return countHistory(this.db);
  }

  /** Drops rows older than `before`, then the oldest beyond the newest `maxRows`; returns how many. */
  pruneHistory(before: number, maxRows: number = HISTORY_MAX_ROWS): number {
    return pruneHistory(this.db, before, maxRows);
  }
}
