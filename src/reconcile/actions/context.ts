import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { Config, SetConfig } from "../../config/types.js";
import { compactTimestamp, tombstonePrefix } from "../../datastore/layout.js";
import type { Datastore } from "../../datastore/types.js";
import { AuditTrail, type AuditEntry } from "../../history/audit.js";
import type { Journal } from "../../journal/journal.js";
import type { FileRow } from "../../journal/types.js";
import { logOnce, type Logger } from "../../log/index.js";
import { keyToRelPath, type LocalEntry } from "../../scan/entry.js";
import { entryKeyToObjectKey } from "../../scan/keys.js";
import { statEntry } from "../../scan/walk.js";
import { emptyCounts } from "../counts.js";
import type { PassItem } from "../item.js";
import type { Expected, Ownership } from "../localfs.js";
import type { OwnerNames } from "../owners.js";
import { agreedRow } from "../state.js";

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

export function expectedOf(entry: LocalEntry | undefined): Expected | null {
  return entry ? { inode: entry.inode, mtimeNs: entry.mtimeNs, size: entry.size } : null;
}

/** What every action of a pass shares: the set's places and names, the counts, the audit trail. */
export class ActionContext {
  readonly counts = emptyCounts();
  /** Changes written to the bucket whose records wait in the journal's outbox for the next change-log object. */
  unpublished = 0;
  readonly audit: AuditTrail;
  private readonly isRoot = process.getuid?.() === 0;
  private rootOwner?: { uid: number; gid: number };

  constructor(readonly deps: ExecutorDeps) {
    this.audit = new AuditTrail(deps.journal, deps.logger, deps.set.name, deps.now, deps.onApplied);
  }

  get root(): string {
    return this.deps.set.path;
  }

  objectKey(key: string): string {
    return entryKeyToObjectKey(this.deps.set.prefix, key);
  }

  tombstoneKey(key: string): string {
    return tombstonePrefix(this.deps.set.name) + key;
  }

  trashPath(key: string): string | undefined {
    if (!this.deps.set.keepDeleted) return undefined;
    const stamp = compactTimestamp(this.deps.now());
    return join(this.deps.config.stateDir, "trash", this.deps.set.name, stamp, keyToRelPath(key));
  }

  rowFor(
    key: string,
    entry: LocalEntry,
    sha256: string | null,
    remote: { etag: string | null; lastModified: number | null },
  ): FileRow {
    return agreedRow(this.deps.set.name, key, entry, this.deps.owners, sha256, remote, this.deps.now());
  }

  changeWritten(change: number, etag?: string) {
    this.deps.journal.changeWritten(change, etag);
    this.unpublished++;
  }

  /** Remembered so this deletion never removes a file created here again later (see TombstoneState.stale). */
  rememberDeletion(item: PassItem) {
    const at = this.deps.now();
    const modified = item.tombstoneObject?.lastModified.getTime() ?? at;
    this.deps.journal.recordAppliedTombstone(this.deps.set.name, item.key, modified, at);
  }

  async lstatEntry(key: string): Promise<LocalEntry | undefined> {
    const result = await statEntry(this.root, key);
    return result && "type" in result ? result : undefined;
  }

  /**
   * Who owns what fedsync writes, when it runs as root: the set's `owner`/`group`, else (with
   * `preserve_owner`) the names that came with the object, else the owner of the set root. A name from the
   * bucket never makes a file root's unless the config names root itself.
   */
  async ownership(remoteOwner: string | undefined, remoteGroup: string | undefined): Promise<Ownership> {
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
  modeFor(remoteMode: number | undefined, type: "file" | "dir"): number {
    return (remoteMode ?? (type === "dir" ? 0o755 : 0o644)) & this.deps.set.modeMask;
  }
}
