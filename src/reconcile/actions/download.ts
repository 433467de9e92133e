import { randomInt } from "node:crypto";
import { posix } from "node:path";
import { NotFoundError, PreconditionFailedError } from "../../datastore/errors.js";
import { keyToRelPath, type LocalEntry } from "../../scan/entry.js";
import { conflictCopyKey, conflictCopyKeys } from "../conflict-name.js";
import type { PassItem } from "../item.js";
import { writeFileAtomic, writeSymlinkAtomic } from "../atomic-write.js";
import { ensureDirectory } from "../local-changes.js";
import { RefusedError } from "../localfs.js";
import { expectedOf, type ActionContext } from "./context.js";
import { upload } from "./upload.js";

/**
 * Brings the remote version of `item` to local `key`, replacing `replacing` (the entry planned against, null
 * when there was none: then nothing may be there, and a file that appeared meanwhile stays). `mode`
 * overrides the object's.
 */
export async function download(
  context: ActionContext,
  item: PassItem,
  key: string,
  replacing: LocalEntry | null,
  options: { keepPrevious?: boolean; mode?: number } = {},
) {
  const { deps, counts, root } = context;
  const { remote, object } = item;
  if (!remote || !object) throw new Error("download needs a remote object");
  const owner = await context.ownership(remote.owner, remote.group);
  const expected = expectedOf(replacing ?? undefined);
  let sha256: string | null = null;
  let trash: string | undefined;
  if (remote.type === "dir") {
    await ensureDirectory(root, key, options.mode ?? context.modeFor(remote.mode, "dir"), owner);
  } else if (remote.type === "symlink") {
    const target = remote.target;
    if (target === undefined) throw new RefusedError(`symlink object ${object.key} has no target`);
    if (!deps.set.allowExternalSymlinks && symlinkEscapes(key, target)) {
      throw new RefusedError(`symlink ${key} -> ${target} points outside the set root; not created`);
    }
    await writeSymlinkAtomic(root, key, target, expected);
  } else {
    trash = options.keepPrevious !== false && replacing?.type === "file" ? context.trashPath(key) : undefined;
    // Another version than the plan saw, or none: the key is planned again (executor, "lost-race").
    const stream = await deps.datastore.get(object.key, remote.etag).catch((error: unknown) => {
      throw error instanceof NotFoundError ? new PreconditionFailedError(object.key) : error;
    });
    const written = await writeFileAtomic(root, key, stream, {
      mode: options.mode ?? context.modeFor(remote.mode, "file"),
      mtimeMs: remote.mtimeMs ?? remote.lastModified,
      owner,
      sha256: remote.sha256,
      size: object.size,
      expected,
      keepPreviousAt: trash,
      keepChangedAt: changedCopyKeys(context, key),
    });
    sha256 = written.sha256;
    counts.bytesDown += written.size;
    if (written.keptChangedAt) keptChanged(context, item, key, written.keptChangedAt);
  }
  const entry = await context.lstatEntry(key);
  if (!entry) throw new Error(`${key} vanished right after it was written`);
  const wanted = remote.type === "file" ? remote.mtimeMs : undefined;
  if (wanted !== undefined && entry.mtimeMs !== wanted) {
    // A time the file system cannot hold (ext4 ends in 2446). Recording the bucket's time makes the next
    // pass publish the one the file really has, instead of downloading it again on every pass.
    deps.logger.warn(`${key} has mtime ${entry.mtimeMs} after writing, not ${wanted} as in the bucket`, {
      path: key,
    });
  }
  deps.journal.putFile(
    context.rowFor(key, wanted === undefined ? entry : { ...entry, mtimeMs: wanted }, sha256, {
      etag: remote.etag,
      lastModified: remote.lastModified,
    }),
  );
  counts.downloaded++;
  context.audit.record({
    path: key,
    action: "download",
    origin: remote.origin ?? "unknown",
    sha256: sha256 ?? remote.sha256,
    size: object.size,
    trash,
  });
}

/** Names for a local version written while a download replaced it: conflict copies, one never taken last. */
function changedCopyKeys(context: ActionContext, key: string): string[] {
  const { machine } = context.deps.config;
  const now = context.deps.now();
  return [...conflictCopyKeys(key, machine, now), conflictCopyKey(key, machine, now, randomInt(1000, 1e9))];
}

/** The local file changed between the last check and the download's rename: it is a conflict copy now. */
function keptChanged(context: ActionContext, item: PassItem, key: string, copyKey: string) {
  const { deps, counts } = context;
  const winner = item.remote?.origin ?? "unknown";
  deps.journal.addConflict({
    set: deps.set.name,
    path: key,
    copyPath: copyKey,
    winner,
    loser: deps.config.machine,
    at: deps.now(),
  });
  counts.conflicts++;
  deps.logger.warn(
    `conflict: ${key} was written here while ${winner}'s version replaced it; this machine's version is saved as ${copyKey}`,
    { path: key, winner, loser: deps.config.machine, copy: copyKey },
  );
}

/** Downloads the remote version with a stricter mode than the object's, then publishes that mode. */
export async function downloadStricter(context: ActionContext, item: PassItem, mode: number) {
  const { remote } = item;
  if (!remote) throw new Error("download needs a remote object");
  await download(context, item, item.key, item.entry ?? null, { mode });
  if (mode !== context.modeFor(remote.mode, remote.type === "dir" ? "dir" : "file")) {
    await upload(context, item, item.key, remote.etag, false, true);
  }
}

/** Whether a symlink at `key` with `target` would point outside the set root. */
function symlinkEscapes(key: string, target: string): boolean {
  if (posix.isAbsolute(target)) return true;
  const resolved = posix.normalize(posix.join(posix.dirname(keyToRelPath(key)), target));
  return resolved === ".." || resolved.startsWith("../");
}
