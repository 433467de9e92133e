import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import { join, posix } from "node:path";
import { pipeline, Readable, Transform } from "node:stream";
import type { Config, SetConfig } from "../config/types.js";
import { encodeEntryMeta, encodeTombstoneMeta } from "../datastore/metadata.js";
import { DatastoreError, isDatastoreUnusable, PreconditionFailedError } from "../datastore/errors.js";
import type { Datastore } from "../datastore/types.js";
import { AuditTrail, type AuditEntry } from "../history/audit.js";
import type { Journal } from "../journal/journal.js";
import type { FileRow } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { isDirKey, keyToRelPath, type LocalEntry } from "../scan/entry.js";
import { openTreeFile } from "../scan/hash.js";
import { entryKeyToObjectKey } from "../scan/keys.js";
import { statEntry } from "../scan/walk.js";
import { conflictCopyKeys } from "./conflict-name.js";
import type { PassItem } from "./item.js";
import { compactTimestamp, tombstonePrefix } from "../datastore/layout.js";
import {
  BlockedError,
  ensureDirectory,
  firstFreeKey,
  moveAside,
  RefusedError,
  removeEntry,
  setFileMeta,
  writeFileAtomic,
  writeSymlinkAtomic,
  type Expected,
  type Ownership,
} from "./localfs.js";
import type { OwnerNames } from "./owners.js";
import { agreedRow } from "./state.js";
import type { Action, Side } from "./planner.js";
import { tombstoneHash } from "./planner.js";

/** Files up to this size are read into memory once, so the bytes uploaded are the bytes hashed. */
const BUFFERED_UPLOAD_LIMIT = 8 * 1024 * 1024;

export interface PassCounts {
  uploaded: number;
  downloaded: number;
  deletedLocal: number;
  deletedRemote: number;
  conflicts: number;
  recorded: number;
  failed: number;
  skipped: number;
  bytesUp: number;
  bytesDown: number;
}

export function emptyCounts(): PassCounts {
  return {
    uploaded: 0,
    downloaded: 0,
    deletedLocal: 0,
    deletedRemote: 0,
    conflicts: 0,
    recorded: 0,
    failed: 0,
    skipped: 0,
    bytesUp: 0,
    bytesDown: 0,
  };
}

export interface ExecutorDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  datastore: Datastore;
  logger: Logger;
  owners: OwnerNames;
  now: () => number;
  /** Told every change once it is applied or published. */
  onApplied?: (entry: AuditEntry) => void;
}

function expectedOf(entry: LocalEntry | undefined): Expected | null {
  return entry ? { inode: entry.inode, mtimeNs: entry.mtimeNs, size: entry.size } : null;
}

/** Carries out planned actions against the local tree, the bucket and the journal. */
export class Executor {
  readonly counts = emptyCounts();
  /** Changes written to the bucket whose records wait in the journal's outbox for the next change-log object. */
  unpublished = 0;
  /**
   * Set when an action found the datastore unusable (unreachable, credentials rejected...): the pass stops
   * starting new work and reports this one error instead of one per action.
   */
  outage?: DatastoreError;
  private readonly isRoot = process.getuid?.() === 0;
  private rootOwner?: { uid: number; gid: number };
  private readonly audit: AuditTrail;

  constructor(private readonly deps: ExecutorDeps) {
    this.audit = new AuditTrail(deps.journal, deps.logger, deps.set.name, deps.now, deps.onApplied);
  }

  private get root(): string {
    return this.deps.set.path;
  }

  objectKey(key: string): string {
    return entryKeyToObjectKey(this.deps.set.prefix, key);
  }

  private tombstoneKey(key: string): string {
    return tombstonePrefix(this.deps.set.name) + key;
  }

  private trashPath(key: string): string | undefined {
    if (!this.deps.set.keepDeleted) return undefined;
    const stamp = compactTimestamp(this.deps.now());
    return join(this.deps.config.stateDir, "trash", this.deps.set.name, stamp, keyToRelPath(key));
  }

  /** Runs one action; failures are logged and counted, never thrown (a blocked one is returned for a retry). */
  async run(item: PassItem, action: Action): Promise<"done" | "blocked"> {
    try {
      await this.dispatch(item, action);
      return "done";
    } catch (error) {
      if (error instanceof BlockedError) return "blocked";
      this.fail(item.key, action.kind, error);
      return "done";
    }
  }

  /** Like run, but a blocked action counts as failed (the last try in a pass). */
  async runFinal(item: PassItem, action: Action): Promise<void> {
    if ((await this.run(item, action)) === "blocked") {
      this.fail(item.key, action.kind, new Error("the path is still occupied; retrying next pass"));
    }
  }

  private fail(key: string, kind: string, error: unknown) {
    if (isDatastoreUnusable(error)) {
      this.outage ??= error;
      return;
    }
    if (error instanceof PreconditionFailedError) {
      this.deps.logger.debug("another machine wrote it first; reconciling next pass", {
        path: key,
        action: kind,
      });
      this.counts.skipped++;
      return;
    }
    this.counts.failed++;
    const message = error instanceof Error ? error.message : String(error);
    const level = error instanceof RefusedError ? "warn" : "error";
    this.deps.logger[level](`${kind} failed: ${message}`, { path: key, action: kind });
  }

  private async dispatch(item: PassItem, action: Action): Promise<void> {
    switch (action.kind) {
      case "none":
        return;
      case "record":
        return this.record(item);
      case "upload":
        await this.upload(item, item.key, action.ifMatch, action.dropTombstone);
        return;
      case "download":
        if (action.mode !== undefined) return this.downloadStricter(item, action.mode);
        return this.download(item, item.key, item.entry);
      case "merge-meta":
        return this.mergeMeta(item, action.mode, action.mtimeMs, action.ifMatch);
      case "delete-remote":
        return this.deleteRemote(item);
      case "delete-local":
        return this.deleteLocal(item);
      case "keep-local":
        return this.keepLocal(item);
      case "forget":
        this.deps.journal.deleteFile(this.deps.set.name, item.key);
        if (item.tombstoneObject) this.rememberDeletion(item);
        return;
      case "conflict":
        return this.conflict(item, action.winner, action.keepLoser, action.mode);
    }
  }

  private rowFor(
    key: string,
    entry: LocalEntry,
    sha256: string | null,
    remote: { etag: string | null; lastModified: number | null },
  ): FileRow {
    return agreedRow(this.deps.set.name, key, entry, this.deps.owners, sha256, remote, this.deps.now());
  }

  private record(item: PassItem) {
    const { entry, object, local } = item;
    if (!entry || !object) throw new Error("record needs both sides");
    this.deps.journal.putFile(
      this.rowFor(item.key, entry, local?.sha256 ?? null, {
        etag: object.etag,
        lastModified: object.lastModified.getTime(),
      }),
    );
    this.counts.recorded++;
  }

  private keepLocal(item: PassItem) {
    const { entry, local } = item;
    if (!entry) throw new Error("keep-local needs a local entry");
    this.deps.journal.putFile(
      this.rowFor(item.key, entry, local?.sha256 ?? null, { etag: null, lastModified: null }),
    );
    this.deps.logger.debug("kept locally although deleted elsewhere (deletions: keep)", { path: item.key });
  }

  /**
   * Publishes the local entry at `key`: the item's own key (with the entry and bytes the plan saw, unless
   * `fresh` asks to look again after this pass changed it), or a conflict copy.
   */
  private async upload(
    item: PassItem,
    key: string,
    ifMatch: string | undefined,
    dropTombstone: boolean,
    fresh = false,
  ) {
    const planned = key === item.key && !fresh;
    const entry = planned ? item.entry : await this.lstatEntry(key);
    if (!entry) throw new RefusedError(`${key} vanished before upload`);
    const owner = this.deps.owners.userName(entry.uid);
    const group = this.deps.owners.groupName(entry.gid);
    const condition = ifMatch ? { ifMatch } : { ifNoneMatch: true };
    const { body, sha256 } =
      entry.type === "file"
        ? await this.readForUpload(key, entry, planned ? item : undefined)
        : { body: Buffer.alloc(0), sha256: undefined };
    const metadata = encodeEntryMeta({
      type: entry.type,
      sha256,
      mtimeMs: entry.type === "symlink" ? undefined : entry.mtimeMs,
      mode: entry.type === "symlink" ? undefined : entry.mode,
      owner,
      group,
      origin: this.deps.config.machine,
      target: entry.target,
    });
    // The change-log record is noted before the write and made publishable after it, whatever happened:
    // a record is only a hint, and one for a write that did land must never be lost (see Journal outbox).
    const change = this.deps.journal.noteChange(this.deps.set.name, { path: key, op: "put", sha256 });
    let etag: string | undefined;
    try {
      ({ etag } = await this.deps.datastore.put(this.objectKey(key), body, entry.size, metadata, condition));
    } finally {
      this.changeWritten(change, etag);
    }
    // The bucket's Last-Modified is not in a PUT answer; the next listing learns it (see againstJournal).
    this.deps.journal.putFile(this.rowFor(key, entry, sha256 ?? null, { etag, lastModified: null }));
    if (dropTombstone) {
      await this.deps.datastore.delete([this.tombstoneKey(key)]);
      this.deps.journal.forgetAppliedTombstone(this.deps.set.name, key);
    }
    this.counts.uploaded++;
    this.counts.bytesUp += entry.size;
    this.audit.record({
      path: key,
      action: "upload",
      origin: this.deps.config.machine,
      sha256,
      size: entry.size,
    });
  }

  /**
   * The bytes of the file the scan saw at `key` (same device and inode, never through a symlink), with their
   * sha256: those the plan already read for a small file, else read now.
   */
  private async readForUpload(
    key: string,
    entry: LocalEntry,
    planned: PassItem | undefined,
  ): Promise<{ body: Buffer | Readable; sha256: string }> {
    if (planned?.content) {
      return { body: planned.content, sha256: createHash("sha256").update(planned.content).digest("hex") };
    }
    const handle = await openTreeFile(this.root, key, entry);
    if (entry.size <= BUFFERED_UPLOAD_LIMIT) {
      try {
        const body = await handle.readFile();
        if (body.length !== entry.size)
          throw new RefusedError(`${key} changed while being read; retrying next pass`);
        return { body, sha256: createHash("sha256").update(body).digest("hex") };
      } finally {
        await handle.close();
      }
    }
    let sha256 = planned?.local?.sha256;
    if (!sha256) {
      const hash = createHash("sha256");
      const buffer = Buffer.allocUnsafe(1024 * 1024);
      for (let position = 0; ;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
      sha256 = hash.digest("hex");
    }
    return { body: readVerified(handle.createReadStream({ start: 0 }), sha256, key), sha256 };
  }

  private async lstatEntry(key: string): Promise<LocalEntry | undefined> {
    const result = await statEntry(this.root, key);
    return result && "type" in result ? result : undefined;
  }

  /**
   * Who owns what fedsync writes, when it runs as root: the set's `owner`/`group`, else (with
   * `preserve_owner`) the names that came with the object, else the owner of the set root. A name from the
   * bucket never makes a file root's unless the config names root itself.
   */
  private async ownership(
    remoteOwner: string | undefined,
    remoteGroup: string | undefined,
  ): Promise<Ownership> {
    if (!this.isRoot) return {};
    const { set, owners } = this.deps;
    this.rootOwner ??= await stat(this.root).then((stats) => ({ uid: stats.uid, gid: stats.gid }));
    const fromBucket = (name: string | undefined, resolve: (name: string) => number | undefined) => {
      const id = set.preserveOwner && name !== undefined ? resolve(name) : undefined;
      return id === 0 ? undefined : id;
    };
    const uid =
      set.owner !== undefined ? owners.uid(set.owner) : fromBucket(remoteOwner, (n) => owners.uid(n));
    const gid =
      set.group !== undefined ? owners.gid(set.group) : fromBucket(remoteGroup, (n) => owners.gid(n));
    // A configured owner removed from this machine since the config was checked: the set root's, said once.
    for (const [what, name, id] of [
      ["owner", set.owner, uid],
      ["group", set.group, gid],
    ] as const) {
      if (name !== undefined && id === undefined) {
        logOnce(
          this.deps.logger,
          `unknown-${what}:${set.name}:${name}`,
          "warn",
          `the set's ${what} ${name} is unknown on this machine; files get the set root's ${what}`,
          { [what]: name },
        );
      }
    }
    return { uid: uid ?? this.rootOwner.uid, gid: gid ?? this.rootOwner.gid };
  }

  /** The mode a file or directory from the bucket gets here: its own, or the default, within `mode_mask`. */
  private modeFor(remoteMode: number | undefined, type: "file" | "dir"): number {
    return (remoteMode ?? (type === "dir" ? 0o755 : 0o644)) & this.deps.set.modeMask;
  }

  /**
   * Brings the remote version of `item` to local `key`, replacing `replacing` (the entry planned against:
   * undefined to replace whatever is there, null when nothing may be). `mode` overrides the object's.
   */
  private async download(
    item: PassItem,
    key: string,
    replacing: LocalEntry | undefined | null,
    options: { keepPrevious?: boolean; mode?: number } = {},
  ) {
    const { remote, object } = item;
    if (!remote || !object) throw new Error("download needs a remote object");
    const owner = await this.ownership(remote.owner, remote.group);
    const expected = replacing === undefined ? undefined : expectedOf(replacing ?? undefined);
    let sha256: string | null = null;
    let trash: string | undefined;
    if (remote.type === "dir") {
      await ensureDirectory(this.root, key, options.mode ?? this.modeFor(remote.mode, "dir"), owner);
    } else if (remote.type === "symlink") {
      const target = remote.target;
      if (target === undefined) throw new RefusedError(`symlink object ${object.key} has no target`);
      if (!this.deps.set.allowExternalSymlinks && symlinkEscapes(key, target)) {
        throw new RefusedError(`symlink ${key} -> ${target} points outside the set root; not created`);
      }
      await writeSymlinkAtomic(this.root, key, target, expected);
    } else {
      trash = options.keepPrevious !== false && replacing?.type === "file" ? this.trashPath(key) : undefined;
      const stream = await this.deps.datastore.get(object.key);
      const written = await writeFileAtomic(this.root, key, stream, {
        mode: options.mode ?? this.modeFor(remote.mode, "file"),
        mtimeMs: remote.mtimeMs ?? remote.lastModified,
        owner,
        sha256: remote.sha256,
        size: object.size,
        expected,
        keepPreviousAt: trash,
      });
      sha256 = written.sha256;
      this.counts.bytesDown += written.size;
    }
    const entry = await this.lstatEntry(key);
    if (!entry) throw new Error(`${key} vanished right after it was written`);
    const wanted = remote.type === "file" ? remote.mtimeMs : undefined;
    if (wanted !== undefined && entry.mtimeMs !== wanted) {
      // A time the file system cannot hold (ext4 ends in 2446). Recording the bucket's time makes the next
      // pass publish the one the file really has, instead of downloading it again on every pass.
      this.deps.logger.warn(
        `${key} has mtime ${entry.mtimeMs} after writing, not ${wanted} as in the bucket`,
        {
          path: key,
        },
      );
    }
    this.deps.journal.putFile(
      this.rowFor(key, wanted === undefined ? entry : { ...entry, mtimeMs: wanted }, sha256, {
        etag: remote.etag,
        lastModified: remote.lastModified,
      }),
    );
    this.counts.downloaded++;
    this.audit.record({
      path: key,
      action: "download",
      origin: remote.origin ?? "unknown",
      sha256: sha256 ?? remote.sha256,
      size: object.size,
      trash,
    });
  }

  /** Downloads the remote version with a stricter mode than the object's, then publishes that mode. */
  private async downloadStricter(item: PassItem, mode: number) {
    const { remote } = item;
    if (!remote) throw new Error("download needs a remote object");
    await this.download(item, item.key, item.entry, { mode });
    if (mode !== this.modeFor(remote.mode, remote.type === "dir" ? "dir" : "file")) {
      await this.upload(item, item.key, remote.etag, false, true);
    }
  }

  /** Same content on both sides: the merged mode and mtime here, then in the bucket. */
  private async mergeMeta(item: PassItem, mode: number, mtimeMs: number, ifMatch: string) {
    const { entry } = item;
    if (!entry) throw new Error("merge-meta needs a local entry");
    if (entry.type === "dir") await ensureDirectory(this.root, item.key, mode, {});
    else await setFileMeta(this.root, item.key, { mode, mtimeMs }, expectedOf(entry)!);
    this.deps.logger.info(`${item.key}: both sides changed its metadata; mode ${mode.toString(8)} kept`, {
      path: item.key,
    });
    await this.upload(item, item.key, ifMatch, false, true);
  }

  private async deleteRemote(item: PassItem) {
    const { row } = item;
    if (!row?.remoteEtag) throw new Error("delete-remote needs a journal row");
    const objectKey = this.objectKey(item.key);
    const current = await this.deps.datastore.stat(objectKey);
    const sha256 = row.sha256 ?? undefined;
    const change = this.deps.journal.noteChange(this.deps.set.name, { path: item.key, op: "delete", sha256 });
    try {
      try {
        if (current && current.etag !== row.remoteEtag) throw new PreconditionFailedError(objectKey);
        // Written over between the stat and the deletion: the deletion is taken back (versioned buckets).
        if (current) await this.deps.datastore.deleteIfCurrent(objectKey, current);
      } catch (error) {
        if (!(error instanceof PreconditionFailedError)) throw error;
        this.deps.logger.debug("changed remotely since the listing; not deleted, reconciling next pass", {
          path: item.key,
        });
        this.counts.skipped++;
        return;
      }
      const metadata = encodeTombstoneMeta({
        deletedBy: this.deps.config.machine,
        deletedAt: this.deps.now(),
        sha256: tombstoneHash(row),
      });
      metadata["fedsync-type"] = row.type;
      await this.deps.datastore.put(this.tombstoneKey(item.key), Buffer.alloc(0), 0, metadata);
    } finally {
      this.changeWritten(change);
    }
    this.deps.journal.deleteFile(this.deps.set.name, item.key);
    this.counts.deletedRemote++;
    this.audit.record({
      path: item.key,
      action: "delete-remote",
      origin: this.deps.config.machine,
      sha256: row.sha256,
      size: row.size,
    });
  }

  private changeWritten(change: number, etag?: string) {
    this.deps.journal.changeWritten(change, etag);
    this.unpublished++;
  }

  private async deleteLocal(item: PassItem) {
    const { entry } = item;
    // Without a tombstone the deletion is inferred from a listing, and MinIO leaves `d/x` out of listings
    // while an object `d` exists: only an object that is really gone counts as deleted.
    if (entry && !item.tombstone && (await this.deps.datastore.stat(this.objectKey(item.key)))) {
      throw new RefusedError(
        `${item.key} is missing from the bucket listing but its object still exists (hidden by an object named like its parent directory?); not deleted`,
      );
    }
    const trash = entry && entry.type !== "dir" ? this.trashPath(item.key) : undefined;
    if (entry) {
      await removeEntry(this.root, item.key, {
        directory: isDirKey(item.key),
        expected: entry.type === "dir" ? undefined : (expectedOf(entry) ?? undefined),
        keepAt: trash,
      });
    }
    this.deps.journal.deleteFile(this.deps.set.name, item.key);
    this.rememberDeletion(item);
    this.counts.deletedLocal++;
    this.audit.record({
      path: item.key,
      action: "delete-local",
      origin: item.tombstone?.deletedBy ?? "unknown",
      sha256: item.local?.sha256 ?? item.row?.sha256,
      size: entry?.size ?? item.row?.size,
      trash,
    });
  }

  /** Remembered so this deletion never removes a file created here again later (see TombstoneState.stale). */
  private rememberDeletion(item: PassItem) {
    const at = this.deps.now();
    const modified = item.tombstoneObject?.lastModified.getTime() ?? at;
    this.deps.journal.recordAppliedTombstone(this.deps.set.name, item.key, modified, at);
  }

  private async conflict(item: PassItem, winner: Side, keepLoser: boolean, mode: number) {
    const { remote, entry } = item;
    if (!remote || !entry) throw new Error("conflict needs both sides");
    const loserMachine = winner === "local" ? (remote.origin ?? "unknown") : this.deps.config.machine;
    const candidates = conflictCopyKeys(item.key, loserMachine, this.deps.now());
    let copyKey = candidates[0]!;
    if (winner === "remote") {
      if (keepLoser) {
        copyKey = await moveAside(this.root, item.key, candidates, expectedOf(entry)!);
        await this.upload(item, copyKey, undefined, false);
        await this.download(item, item.key, null, { keepPrevious: false, mode });
      } else {
        await this.download(item, item.key, entry, { mode });
      }
      if (remote.type === "file" && mode !== this.modeFor(remote.mode, "file")) {
        await this.upload(item, item.key, remote.etag, false, true);
      }
    } else {
      if (keepLoser) {
        copyKey = await firstFreeKey(this.root, candidates);
        await this.download(item, copyKey, null, { keepPrevious: false });
        await this.upload(item, copyKey, undefined, false);
      }
      if (mode !== (entry.mode & this.deps.set.modeMask) && entry.type === "file") {
        await setFileMeta(this.root, item.key, { mode, mtimeMs: entry.mtimeMs }, expectedOf(entry)!);
        await this.upload(item, item.key, remote.etag, false, true);
      } else {
        await this.upload(item, item.key, remote.etag, false);
      }
    }
    const winnerMachine = winner === "local" ? this.deps.config.machine : (remote.origin ?? "unknown");
    if (keepLoser) {
      this.deps.journal.addConflict({
        set: this.deps.set.name,
        path: item.key,
        copyPath: copyKey,
        winner: winnerMachine,
        loser: loserMachine,
        at: this.deps.now(),
      });
    }
    this.counts.conflicts++;
    this.audit.record(
      {
        path: item.key,
        action: "conflict",
        origin: remote.origin ?? "unknown",
        sha256: winner === "local" ? item.local?.sha256 : remote.sha256,
        size: winner === "local" ? entry.size : remote.size,
        detail: keepLoser ? copyKey : undefined,
      },
      {
        level: "warn",
        message: keepLoser
          ? `conflict: both sides changed ${item.key}; ${winnerMachine}'s version keeps the name, ${loserMachine}'s is saved as ${copyKey}`
          : `conflict: both sides changed ${item.key}; ${winnerMachine}'s newer version wins, ${loserMachine}'s is dropped`,
        fields: { winner: winnerMachine, loser: loserMachine, copy: keepLoser ? copyKey : undefined },
      },
    );
  }

  /** A pass stopped by a guard: one error line, and a row in the history. */
  recordGuardTrip(message: string): void {
    this.audit.record(
      { path: "", action: "guard-trip", origin: this.deps.config.machine, detail: message },
      { level: "error", message },
    );
  }
}

/** Whether a symlink at `key` with `target` would point outside the set root. */
export function symlinkEscapes(key: string, target: string): boolean {
  if (posix.isAbsolute(target)) return true;
  const resolved = posix.normalize(posix.join(posix.dirname(keyToRelPath(key)), target));
  return resolved === ".." || resolved.startsWith("../");
}

/**
 * The bytes of a file too large to buffer, failing at the end when they do not hash to `sha256` (the hash
 * was taken before the read, and the file changed in between): the upload is then abandoned before it
 * completes, so no object ever carries a sha256 its bytes do not have.
 */
function readVerified(source: Readable, sha256: string, key: string): Readable {
  const hash = createHash("sha256");
  const verify = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const same = hash.digest("hex") === sha256;
      callback(same ? null : new RefusedError(`${key} changed while being read; retrying next pass`));
    },
  });
  return pipeline(source, verify, () => undefined);
}
