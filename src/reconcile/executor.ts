import { createReadStream } from "node:fs";
import { readFile, rename } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join, posix } from "node:path";
import { pipeline, Readable, Transform } from "node:stream";
import type { Config, SetConfig } from "../config/types.js";
import { encodeEntryMeta, encodeTombstoneMeta } from "../datastore/metadata.js";
import { DatastoreError, isDatastoreUnusable, PreconditionFailedError } from "../datastore/errors.js";
import type { Datastore } from "../datastore/types.js";
import { AuditTrail } from "../history/audit.js";
import type { Journal } from "../journal/journal.js";
import type { FileRow } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { isDirKey, keyToRelPath, type LocalEntry } from "../scan/entry.js";
import { sha256File } from "../scan/hash.js";
import { entryKeyToObjectKey } from "../scan/keys.js";
import { statEntry } from "../scan/walk.js";
import { conflictCopyKey } from "./conflict-name.js";
import type { PassItem } from "./item.js";
import { compactTimestamp, tombstonePrefix } from "./layout.js";
import {
  absolutePath,
  BlockedError,
  ensureDirectory,
  RefusedError,
  removeEntry,
  writeFileAtomic,
  writeSymlinkAtomic,
  type Expected,
  type Ownership,
} from "./localfs.js";
import type { OwnerNames } from "./owners.js";
import type { Action, Side } from "./planner.js";
import { SAFE_MODE_BITS, tombstoneHash } from "./planner.js";

/** Files up to this size are read into memory once, so the bytes uploaded are the bytes hashed. */
const BUFFERED_UPLOAD_LIMIT = 8 * 1024 * 1024;

export interface ChangeRecord {
  path: string;
  op: "put" | "delete";
  sha256?: string;
  etag?: string;
}

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
}

function expectedOf(entry: LocalEntry | undefined): Expected | null {
  return entry ? { inode: entry.inode, mtimeNs: entry.mtimeNs, size: entry.size } : null;
}

/** Carries out planned actions against the local tree, the bucket and the journal. */
export class Executor {
  readonly counts = emptyCounts();
  readonly changes: ChangeRecord[] = [];
  /**
   * Set when an action found the datastore unusable (unreachable, credentials rejected...): the pass stops
   * starting new work and reports this one error instead of one per action.
   */
  outage?: DatastoreError;
  private readonly isRoot = process.getuid?.() === 0;
  private readonly audit: AuditTrail;

  constructor(private readonly deps: ExecutorDeps) {
    this.audit = new AuditTrail(deps.journal, deps.logger, deps.set.name, deps.now);
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
        await this.download(item, item.key, item.entry);
        return;
      case "delete-remote":
        return this.deleteRemote(item);
      case "delete-local":
        return this.deleteLocal(item);
      case "keep-local":
        return this.keepLocal(item);
      case "forget":
        this.deps.journal.deleteFile(this.deps.set.name, item.key);
        return;
      case "conflict":
        return this.conflict(item, action.winner, action.keepLoser);
    }
  }

  private rowFor(
    key: string,
    entry: LocalEntry,
    sha256: string | null,
    remote: { etag: string | null; lastModified: number | null },
  ): FileRow {
    return {
      set: this.deps.set.name,
      path: key,
      type: entry.type,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
      mtimeNs: entry.mtimeNs,
      ctimeNs: entry.ctimeNs,
      inode: entry.inode,
      mode: entry.mode,
      owner: this.deps.owners.userName(entry.uid),
      group: this.deps.owners.groupName(entry.gid),
      sha256,
      target: entry.target ?? null,
      remoteEtag: remote.etag,
      remoteLastModified: remote.lastModified,
      syncedAt: this.deps.now(),
    };
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

  /** Publishes the local entry at `key` (the item's own key, or a conflict copy). */
  private async upload(item: PassItem, key: string, ifMatch: string | undefined, dropTombstone: boolean) {
    const entry = key === item.key ? item.entry : await this.lstatEntry(key);
    if (!entry) throw new RefusedError(`${key} vanished before upload`);
    const owner = this.deps.owners.userName(entry.uid);
    const group = this.deps.owners.groupName(entry.gid);
    const condition = ifMatch ? { ifMatch } : { ifNoneMatch: true };
    let body: Readable | Buffer = Buffer.alloc(0);
    let sha256: string | undefined;
    if (entry.type === "file") {
      const path = absolutePath(this.root, key);
      if (entry.size <= BUFFERED_UPLOAD_LIMIT) {
        body = key === item.key && item.content ? item.content : await readFile(path);
        if (body.length !== entry.size)
          throw new RefusedError(`${key} changed while being read; retrying next pass`);
        sha256 = createHash("sha256").update(body).digest("hex");
      } else {
        sha256 = key === item.key && item.local?.sha256 ? item.local.sha256 : await sha256File(path);
        body = readVerified(path, sha256, key);
      }
    }
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
    const { etag } = await this.deps.datastore.put(
      this.objectKey(key),
      body,
      entry.size,
      metadata,
      condition,
    );
    // The bucket's Last-Modified is not in a PUT answer; the next listing learns it (see againstJournal).
    this.deps.journal.putFile(this.rowFor(key, entry, sha256 ?? null, { etag, lastModified: null }));
    if (dropTombstone) await this.deps.datastore.delete([this.tombstoneKey(key)]);
    this.changes.push({ path: key, op: "put", sha256, etag });
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

  private async lstatEntry(key: string): Promise<LocalEntry | undefined> {
    const result = await statEntry(this.root, key);
    return result && "type" in result ? result : undefined;
  }

  private ownership(remoteOwner: string | undefined, remoteGroup: string | undefined): Ownership {
    if (!this.isRoot) return {};
    const { owner: forcedOwner, group: forcedGroup } = this.deps.set;
    const ownerName = forcedOwner ?? remoteOwner;
    const groupName = forcedGroup ?? remoteGroup;
    const uid = ownerName === undefined ? undefined : this.deps.owners.uid(ownerName);
    const gid = groupName === undefined ? undefined : this.deps.owners.gid(groupName);
    // A remote owner unknown here is normal (the file keeps the agent's); a configured one is not.
    for (const [what, name, id] of [
      ["owner", forcedOwner, uid],
      ["group", forcedGroup, gid],
    ] as const) {
      if (name !== undefined && id === undefined) {
        logOnce(
          this.deps.logger,
          `unknown-${what}:${this.deps.set.name}:${name}`,
          "warn",
          `the set's ${what} ${name} is unknown on this machine; files are written with the agent's ${what}`,
          { [what]: name },
        );
      }
    }
    return { uid, gid };
  }

  /** Brings the remote version of `item` to local `key`, replacing `replacing` (the entry planned against). */
  private async download(
    item: PassItem,
    key: string,
    replacing: LocalEntry | undefined,
    keepPrevious = true,
  ) {
    const { remote, object } = item;
    if (!remote || !object) throw new Error("download needs a remote object");
    const owner = this.ownership(remote.owner, remote.group);
    const expected = expectedOf(replacing);
    let sha256: string | null = null;
    let trash: string | undefined;
    if (remote.type === "dir") {
      await ensureDirectory(this.root, key, (remote.mode ?? 0o755) & SAFE_MODE_BITS, owner);
    } else if (remote.type === "symlink") {
      const target = remote.target;
      if (target === undefined) throw new RefusedError(`symlink object ${object.key} has no target`);
      if (!this.deps.set.allowExternalSymlinks && symlinkEscapes(key, target)) {
        throw new RefusedError(`symlink ${key} -> ${target} points outside the set root; not created`);
      }
      await writeSymlinkAtomic(this.root, key, target, expected);
    } else {
      trash = keepPrevious && replacing?.type === "file" ? this.trashPath(key) : undefined;
      const stream = await this.deps.datastore.get(object.key);
      const written = await writeFileAtomic(this.root, key, stream, {
        mode: (remote.mode ?? 0o644) & SAFE_MODE_BITS,
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

  private async deleteRemote(item: PassItem) {
    const { row } = item;
    if (!row?.remoteEtag) throw new Error("delete-remote needs a journal row");
    const objectKey = this.objectKey(item.key);
    const current = await this.deps.datastore.stat(objectKey);
    if (current && current.etag !== row.remoteEtag) {
      this.deps.logger.debug("changed remotely since the listing; not deleted, reconciling next pass", {
        path: item.key,
      });
      this.counts.skipped++;
      return;
    }
    if (current) await this.deps.datastore.delete([objectKey]);
    const metadata = encodeTombstoneMeta({
      deletedBy: this.deps.config.machine,
      deletedAt: this.deps.now(),
      sha256: tombstoneHash(row),
    });
    metadata["fedsync-type"] = row.type;
    await this.deps.datastore.put(this.tombstoneKey(item.key), Buffer.alloc(0), 0, metadata);
    this.deps.journal.deleteFile(this.deps.set.name, item.key);
    this.changes.push({ path: item.key, op: "delete", sha256: row.sha256 ?? undefined });
    this.counts.deletedRemote++;
    this.audit.record({
      path: item.key,
      action: "delete-remote",
      origin: this.deps.config.machine,
      sha256: row.sha256,
      size: row.size,
    });
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

  private async conflict(item: PassItem, winner: Side, keepLoser: boolean) {
    const { remote, entry } = item;
    if (!remote || !entry) throw new Error("conflict needs both sides");
    const loserMachine = winner === "local" ? (remote.origin ?? "unknown") : this.deps.config.machine;
    const copyKey = conflictCopyKey(item.key, loserMachine, this.deps.now());
    if (winner === "remote") {
      if (keepLoser) {
        await rename(absolutePath(this.root, item.key), absolutePath(this.root, copyKey));
        await this.upload(item, copyKey, undefined, false);
        await this.download(item, item.key, undefined, false);
      } else {
        await this.download(item, item.key, entry);
      }
    } else {
      if (keepLoser) {
        await this.download(item, copyKey, undefined, false);
        await this.upload(item, copyKey, undefined, false);
      }
      await this.upload(item, item.key, remote.etag, false);
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
function readVerified(path: string, sha256: string, key: string): Readable {
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
  return pipeline(createReadStream(path), verify, () => undefined);
}
