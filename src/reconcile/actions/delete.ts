import { PreconditionFailedError } from "../../datastore/errors.js";
import { encodeTombstoneMeta } from "../../datastore/metadata.js";
import { isDirKey } from "../../scan/entry.js";
import type { PassItem } from "../item.js";
import { removeEntry } from "../local-changes.js";
import { tombstoneHash } from "../planner.js";
import { expectedOf, type ActionContext } from "./context.js";

/** Deletes the object, unless it changed since the listing, and writes its tombstone. */
export async function deleteRemote(context: ActionContext, item: PassItem) {
  const { deps, counts } = context;
  const { row } = item;
  if (!row?.remoteEtag) throw new Error("delete-remote needs a journal row");
  const objectKey = context.objectKey(item.key);
  const current = await deps.datastore.stat(objectKey);
  const sha256 = row.sha256 ?? undefined;
  const change = deps.journal.noteChange(deps.set.name, { path: item.key, op: "delete", sha256 });
  try {
    try {
      // The version the plan saw: the row's, or this machine's own write the row never learnt of.
      const planned = item.remote?.etag ?? row.remoteEtag;
      if (current && current.etag !== planned) throw new PreconditionFailedError(objectKey);
      // Written over between the stat and the deletion: the deletion is taken back (versioned buckets).
      if (current) await deps.datastore.deleteIfCurrent(objectKey, current);
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      deps.logger.debug("changed remotely since the listing; not deleted, reconciling next pass", {
        path: item.key,
      });
      counts.skipped++;
      return;
    }
    const metadata = encodeTombstoneMeta({
      deletedBy: deps.config.machine,
      deletedAt: deps.now(),
      sha256: tombstoneHash(item.remote ?? row),
    });
    metadata["fedsync-type"] = row.type;
    await deps.datastore.put(context.tombstoneKey(item.key), Buffer.alloc(0), 0, metadata);
  } finally {
    context.changeWritten(change);
  }
  deps.journal.deleteFile(deps.set.name, item.key);
  counts.deletedRemote++;
  context.audit.record({
    path: item.key,
    action: "delete-remote",
    origin: deps.config.machine,
    sha256: row.sha256,
    size: row.size,
  });
}

export async function deleteLocal(context: ActionContext, item: PassItem) {
  const { deps, counts } = context;
  const { entry } = item;
  const trash = entry && entry.type !== "dir" ? context.trashPath(item.key) : undefined;
  if (entry) {
    await removeEntry(context.root, item.key, {
      directory: isDirKey(item.key),
      expected: entry.type === "dir" ? undefined : (expectedOf(entry) ?? undefined),
      keepAt: trash,
    });
  }
  deps.journal.deleteFile(deps.set.name, item.key);
  deps.journal.forgetMissing(deps.set.name, item.key);
  context.rememberDeletion(item);
  counts.deletedLocal++;
  context.audit.record({
    path: item.key,
    action: "delete-local",
    origin: item.tombstone?.deletedBy ?? "unknown",
    sha256: item.local?.sha256 ?? item.row?.sha256,
    size: entry?.size ?? item.row?.size,
    trash,
  });
}

/** Both sides deleted the key: its row goes. */
export function forget(context: ActionContext, item: PassItem) {
  context.deps.journal.deleteFile(context.deps.set.name, item.key);
  if (item.tombstoneObject) context.rememberDeletion(item);
}
