import type { PassItem } from "../item.js";
import { conflict } from "./conflict.js";
import type { ActionContext } from "./context.js";

/**
 * How long after a write made without its condition a replacement of it counts as one made without seeing
 * it: the other writer in that state wrote within a second or two; later writers had time to download it.
 */
export const UNCONFIRMED_WATCH_MS = 10 * 60_000;

/**
 * A download planned over this machine's own write that the bucket took without its condition (see
 * MinioUploads.refusedWrongly): another machine in the same state may have replaced it without having seen
 * it, as the fleet test met while its cluster healed. This machine's version is kept as a conflict copy and
 * the bucket's is downloaded; true when that was done.
 */
export async function keepUnconfirmed(context: ActionContext, item: PassItem): Promise<boolean> {
  const { journal, set, now } = context.deps;
  const note = journal.unconfirmedWrite(set.name, item.key);
  if (!note) return false;
  const { entry, remote, row } = item;
  const replaced =
    now() - note.writtenAt < UNCONFIRMED_WATCH_MS &&
    entry?.type === "file" &&
    remote?.type === "file" &&
    row?.remoteEtag === note.etag &&
    remote.etag !== note.etag;
  if (replaced) await conflict(context, item, "remote", true, context.modeFor(remote.mode, "file"));
  journal.forgetUnconfirmed(set.name, item.key);
  return replaced;
}
