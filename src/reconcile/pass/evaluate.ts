import { decodeTombstoneMeta } from "../../datastore/metadata.js";
import type { ObjectInfo } from "../../datastore/types.js";
import { isDirKey, type LocalEntry } from "../../scan/entry.js";
import { hashTreeFile } from "../../scan/hash.js";
import type { ExpiredTombstone } from "../housekeeping.js";
import type { PassItem } from "../item.js";
import { plan, tombstoneHash, type Action, type PlanPolicy } from "../planner.js";
import type { Joined } from "../sources.js";
import {
  agreedRemoteStateOf,
  baseOf,
  localStateOf,
  remoteStateOf,
  type LocalState,
  type RemoteState,
  type TombstoneState,
} from "../state.js";
import { unchangedSinceBase } from "../unchanged.js";
import type { PassRun } from "./context.js";

/** A local file up to this size that has to be hashed is read whole, and an upload reuses the bytes. */
const KEEP_CONTENT_BYTES = 1024 * 1024;

/** One joined key made ready for the planner. */
export interface Evaluated {
  item: PassItem;
  /** The key's deletion mark, when it is past its retention or a newer object supersedes it. */
  expiredTombstone?: ExpiredTombstone;
  /** An object older than the key's deletion mark of that very version: the deletion was undone. */
  undeleted?: ObjectInfo;
}

/** Turns joined keys into pass items, hashes what the stat cannot vouch for, and plans them. */
export class Evaluation {
  private readonly policy: PlanPolicy;

  constructor(private readonly run: PassRun) {
    this.policy = { ...run.deps.set, machine: run.deps.config.machine };
  }

  item(join: Joined): Evaluated {
    const { config } = this.run.deps;
    const tombstone = join.tombstone
      ? this.tombstoneState(join.key, join.tombstone.info, !!join.local?.entry && !join.row)
      : undefined;
    let remote = join.remote
      ? join.remote.current && join.row
        ? agreedRemoteStateOf(join.row, join.remote.info)
        : remoteStateOf(join.key, join.remote.info, this.run.logger)
      : undefined;
    const undeleted =
      remote && tombstone && join.tombstone && undoneDeletion(remote, tombstone, join.tombstone.info)
        ? join.remote?.info
        : undefined;
    if (undeleted) remote = undefined;
    let expiredTombstone: ExpiredTombstone | undefined;
    if (tombstone && join.tombstone && !undeleted) {
      const expired = this.run.now() - tombstone.deletedAt > config.tombstoneRetentionMs;
      const superseded = join.remote && join.remote.info.lastModified.getTime() > tombstone.deletedAt;
      if (expired || superseded) expiredTombstone = { info: join.tombstone.info, superseded: !expired };
    }
    const item: PassItem = {
      key: join.key,
      entry: join.local?.entry,
      row: join.row,
      base: join.row ? baseOf(join.row) : undefined,
      object: remote && join.remote?.info,
      remote,
      tombstoneObject: join.tombstone?.info,
      // This machine's own deletion mark cannot say that a file here now was deleted elsewhere: the file was
      // created again here (restored after an rm -rf, say), so it is published, not deleted.
      tombstone: tombstone?.deletedBy === config.machine && join.local?.entry ? undefined : tombstone,
    };
    if (item.entry) item.local = this.statState(item, item.entry);
    return { item, expiredTombstone, undeleted };
  }

  needsHash(item: PassItem): boolean {
    return item.entry?.type === "file" && item.local?.sha256 === undefined;
  }

  /** The plan of an item the stat alone settles, undefined for one whose file must be hashed first. */
  settle(item: PassItem): Action | undefined {
    return this.needsHash(item) ? undefined : plan(item, this.policy);
  }

  async hashAndPlan(item: PassItem): Promise<Action> {
    if (item.entry && this.needsHash(item)) {
      this.run.hashed++;
      const read = await hashTreeFile(this.run.deps.set.path, item.entry.key, item.entry, KEEP_CONTENT_BYTES);
      item.local = { ...item.local!, sha256: read.sha256 };
      item.content = read.content;
    }
    return plan(item, this.policy);
  }

  /** The local side from the stat alone: the row's hash stands for a file whose stat has not changed. */
  private statState(item: PassItem, entry: LocalEntry): LocalState {
    return localStateOf(
      entry,
      this.run.owners,
      entry.type === "file" && item.row?.sha256 && unchangedSinceBase(entry, item.row)
        ? item.row.sha256
        : undefined,
    );
  }

  /**
   * The deletion mark of `key` as the planner sees it. `stale` when this machine has met it before: it
   * applied it (or a deletion of the key as recent), or its last full pass began after the mark was written
   * (clock skew allowed for): a file here now was created after that, and the mark must not delete it.
   */
  private tombstoneState(key: string, info: ObjectInfo, createdHere: boolean): TombstoneState {
    const { config, journal, set } = this.run.deps;
    const { state } = this.run;
    const meta = decodeTombstoneMeta(info.metadata);
    const type = info.metadata?.["fedsync-type"];
    const written = info.lastModified.getTime();
    const skew = config.clockSkewMs;
    const applied = createdHere ? journal.appliedTombstone(set.name, key) : undefined;
    const passedOver = state.lastFullPassStarted !== null && written < state.lastFullPassStarted - skew;
    return {
      type: type === "file" || type === "symlink" || type === "dir" ? type : isDirKey(key) ? "dir" : "file",
      deletedAt: meta?.deletedAt ?? written,
      deletedBy: meta?.deletedBy,
      sha256: meta?.sha256,
      stale: createdHere && (passedOver || (applied !== undefined && written <= applied + skew)),
    };
  }
}

/**
 * Whether the object is the very version the key's deletion mark says was deleted, and older than the mark:
 * a distributed MinIO healing after a node failure can bring back an object deleted while the node was
 * down. Server times only, compared in whole seconds (HEAD answers carry no more), so an object written again
 * in the mark's own second counts as written again.
 */
function undoneDeletion(remote: RemoteState, tombstone: TombstoneState, mark: ObjectInfo): boolean {
  const hash = tombstoneHash(remote);
  if (hash === undefined || tombstone.sha256 !== hash) return false;
  return Math.floor(remote.lastModified / 1000) < Math.floor(mark.lastModified.getTime() / 1000);
}
