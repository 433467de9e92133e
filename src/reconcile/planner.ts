import { createHash } from "node:crypto";
import type { ConflictPolicy, DeletionPolicy } from "../config/types.js";
import type { BaseState, LocalState, RemoteState, TombstoneState } from "./state.js";

export interface PlanInput {
  key: string;
  local?: LocalState;
  base?: BaseState;
  remote?: RemoteState;
  tombstone?: TombstoneState;
}

export interface PlanPolicy {
  conflicts: ConflictPolicy;
  deletions: DeletionPolicy;
  /** Permission bits that travel (the set's mode_mask): modes are compared and merged under it. */
  modeMask: number;
  /** This machine's name: a remote version it wrote itself is not another machine's to keep. */
  machine?: string;
}

export type Side = "local" | "remote";

export type Action =
  | { kind: "none" }
  /** Both sides agree: write the journal row. */
  | { kind: "record" }
  /** Publish the local version; `ifMatch` guards a replace, otherwise create-only. */
  | { kind: "upload"; ifMatch?: string; dropTombstone: boolean }
  /**
   * Bring the remote version here. With `mode`, the merged mode differs from the remote's (the local side made
   * it stricter): the file gets that mode, and the result is published back.
   */
  | { kind: "download"; mode?: number }
  /** Same content on both sides, metadata changed on both: apply the merged mode and mtime, then publish. */
  | { kind: "merge-meta"; mode: number; mtimeMs: number; ifMatch: string }
  /** Delete the object and write a tombstone. */
  | { kind: "delete-remote" }
  | { kind: "delete-local" }
  /** The remote copy is gone but `deletions: keep` keeps the local one: record that. */
  | { kind: "keep-local" }
  /** Both sides deleted it: drop the journal row. */
  | { kind: "forget" }
  /**
   * Both sides changed it differently. The winner keeps the name; under keep-both the loser's version is kept
   * as a conflict copy, under newest-wins it is dropped.
   */
  | { kind: "conflict"; winner: Side; keepLoser: boolean; mode: number };

export type ActionKind = Action["kind"];

type Change = "absent" | "same" | "new" | "changed" | "deleted";

/** Permission bits that travel between machines: setuid/setgid never do. */
export const SAFE_MODE_BITS = 0o1777;

function sameContent(
  a: { type: string; sha256?: string | null; target?: string | null },
  b: typeof a,
): boolean {
  if (a.type !== b.type) return false;
  if (a.type === "file") return !!a.sha256 && a.sha256 === b.sha256;
  if (a.type === "symlink") return (a.target ?? null) === (b.target ?? null);
  return true;
}

function masked(mode: number, policy: PlanPolicy): number {
  return mode & policy.modeMask & SAFE_MODE_BITS;
}

function localMatchesBase(local: LocalState, base: BaseState, policy: PlanPolicy): boolean {
  if (!sameContent(local, base)) return false;
  if (local.type === "symlink") return true;
  if (masked(local.mode, policy) !== masked(base.mode, policy)) return false;
  if (local.owner !== base.owner || local.group !== base.group) return false;
  return local.type === "dir" || local.mtimeMs === base.mtimeMs;
}

/** Whether the remote version carries the same content and metadata as the local one. */
function remoteMatchesLocal(remote: RemoteState, local: LocalState, policy: PlanPolicy): boolean {
  if (!sameContent(remote, local)) return false;
  if (local.type === "symlink") return true;
  if (remote.mode !== undefined && masked(remote.mode, policy) !== masked(local.mode, policy)) return false;
  return local.type === "dir" || remote.mtimeMs === undefined || remote.mtimeMs === local.mtimeMs;
}

function localChange(input: PlanInput, policy: PlanPolicy): Change {
  const { local, base } = input;
  if (!base) return local ? "new" : "absent";
  if (!local) return "deleted";
  return localMatchesBase(local, base, policy) ? "same" : "changed";
}

/**
 * Whether the object's fedsync metadata still says what it said at the last agreement. The ETag alone misses
 * changes that keep the bytes: a chmod, a touch, a retargeted symlink (every symlink and directory object
 * is empty, so they all share one ETag). Owner and group are left out: a machine without CAP_CHOWN, or one
 * that forces ownership, never records the remote's.
 */
function remoteMetaMatchesBase(remote: RemoteState, base: BaseState, policy: PlanPolicy): boolean {
  if (remote.type !== base.type) return false;
  if (remote.type === "symlink") return (remote.target ?? null) === base.target;
  if (remote.mode !== undefined && masked(remote.mode, policy) !== masked(base.mode, policy)) return false;
  return remote.type === "dir" || remote.mtimeMs === undefined || remote.mtimeMs === base.mtimeMs;
}

function remoteChange(input: PlanInput, policy: PlanPolicy): Change {
  const { remote, base } = input;
  if (!base) return remote ? "new" : "absent";
  if (base.remoteEtag === null) return remote ? "new" : "same";
  if (!remote) return "deleted";
  return remote.etag === base.remoteEtag && remoteMetaMatchesBase(remote, base, policy) ? "same" : "changed";
}

/** The value a tombstone stores in its sha256 field for a deleted entry. */
export function tombstoneHash(entry: {
  type: string;
  sha256?: string | null;
  target?: string | null;
}): string | undefined {
  if (entry.type === "file") return entry.sha256 ?? undefined;
  if (entry.type === "symlink" && entry.target != null) {
    return createHash("sha256").update(`symlink\0${entry.target}`).digest("hex");
  }
  return undefined;
}

/**
 * A tombstone says this exact local version was deleted elsewhere, unless this machine has met it before
 * (applied it, or passed over it in a full pass): the file here now was created after, and stays.
 */
function tombstoneCovers(tombstone: TombstoneState, local: LocalState): boolean {
  if (tombstone.stale || tombstone.type !== local.type) return false;
  return (
    local.type === "dir" || (tombstone.sha256 !== undefined && tombstone.sha256 === tombstoneHash(local))
  );
}

/**
 * A remote version this machine wrote itself: a write whose answer it never got (lost while a node went
 * down, say), so the journal does not know it. Not another machine's version to keep.
 */
function ownEarlierWrite(remote: RemoteState | undefined, policy: PlanPolicy): boolean {
  return policy.machine !== undefined && remote?.origin === policy.machine;
}

/** Newer modification time wins; on a tie the version already published stays. */
function newer(local: LocalState, remote: RemoteState): Side {
  return remote.mtimeMs !== undefined && local.mtimeMs > remote.mtimeMs ? "local" : "remote";
}

/**
 * The mode after both sides' changes since the base: a side that changed it wins over one that did not, and
 * when both changed it the stricter bits (the intersection) win. A permission is never loosened by a side
 * that did not change it.
 */
export function mergeMode(base: number | undefined, local: number, remote: number | undefined): number {
  if (remote === undefined || remote === local) return local;
  if (base === undefined) return local & remote;
  const localChanged = local !== base;
  const remoteChanged = remote !== base;
  if (localChanged && remoteChanged) return local & remote;
  return remoteChanged ? remote : local;
}

/** Both sides changed the key since the base (or both created it): merge what can be merged. */
function resolveBothChanged(
  input: PlanInput,
  local: LocalState,
  remote: RemoteState,
  policy: PlanPolicy,
): Action {
  if (remoteMatchesLocal(remote, local, policy)) return { kind: "record" };
  const { base } = input;
  const localMode = masked(local.mode, policy);
  const remoteMode = remote.mode === undefined ? undefined : masked(remote.mode, policy);
  const mode = mergeMode(base && masked(base.mode, policy), localMode, remoteMode);
  const remoteKeepsMode = remoteMode === undefined || mode === remoteMode;
  const contentBase = base && base.type === local.type ? base : undefined;
  if (sameContent(remote, local)) {
    const mtimeMs = Math.max(local.mtimeMs, remote.mtimeMs ?? local.mtimeMs);
    const mtimeFits = (side: number | undefined) => local.type === "dir" || side === mtimeMs;
    if (mode === localMode && mtimeFits(local.mtimeMs)) {
      return { kind: "upload", ifMatch: remote.etag, dropTombstone: false };
    }
    if (remoteMode !== undefined && remoteKeepsMode && mtimeFits(remote.mtimeMs)) return { kind: "download" };
    return { kind: "merge-meta", mode, mtimeMs, ifMatch: remote.etag };
  }
  // Only one side changed the content (the other only its metadata): that content wins, no conflict copy.
  if (contentBase && sameContent(remote, contentBase)) {
    return mode === localMode
      ? { kind: "upload", ifMatch: remote.etag, dropTombstone: false }
      : { kind: "merge-meta", mode, mtimeMs: local.mtimeMs, ifMatch: remote.etag };
  }
  if (contentBase && sameContent(local, contentBase)) {
    return remoteKeepsMode ? { kind: "download" } : { kind: "download", mode };
  }
  // This machine's own earlier write, edited again here since: there is no other machine's version to keep.
  if (ownEarlierWrite(remote, policy) && newer(local, remote) === "local") {
    return { kind: "upload", ifMatch: remote.etag, dropTombstone: false };
  }
  return {
    kind: "conflict",
    winner: newer(local, remote),
    keepLoser: policy.conflicts === "keep-both",
    mode,
  };
}

/**
 * The decision table (DESIGN §4): what to do with one key given the local entry, the journal's base and the
 * bucket. Pure: no I/O, no clock.
 */
export function plan(input: PlanInput, policy: PlanPolicy): Action {
  const { local, remote, tombstone, base } = input;
  const l = localChange(input, policy);
  const r = remoteChange(input, policy);

  if (l === "absent") {
    if (r === "absent") return { kind: "none" };
    return { kind: "download" };
  }
  if (l === "new" && local) {
    if (r === "absent") {
      if (tombstone && tombstoneCovers(tombstone, local)) {
        return policy.deletions === "keep" ? { kind: "none" } : { kind: "delete-local" };
      }
      return { kind: "upload", dropTombstone: tombstone !== undefined };
    }
    if (remote) return resolveBothChanged(input, local, remote, policy);
  }
  if (l === "same") {
    if (r === "same") return { kind: "none" };
    if (r === "changed" || r === "new") return { kind: "download" };
    if (r === "deleted")
      return policy.deletions === "keep" ? { kind: "keep-local" } : { kind: "delete-local" };
  }
  if (l === "changed" && local) {
    if (r === "same") {
      return base?.remoteEtag
        ? { kind: "upload", ifMatch: base.remoteEtag, dropTombstone: false }
        : { kind: "upload", dropTombstone: tombstone !== undefined };
    }
    if (r === "deleted") return { kind: "upload", dropTombstone: tombstone !== undefined };
    if (remote) return resolveBothChanged(input, local, remote, policy);
  }
  if (l === "deleted") {
    if (r === "same") return base?.remoteEtag ? { kind: "delete-remote" } : { kind: "forget" };
    if (r === "deleted") return { kind: "forget" };
    // This machine's own earlier write (whose answer it lost), the file deleted here since.
    if (ownEarlierWrite(remote, policy) && base?.remoteEtag) return { kind: "delete-remote" };
    return { kind: "download" };
  }
  throw new Error(`unplanned case for ${input.key}: local ${l}, remote ${r}`);
}
