import type { PassItem } from "../item.js";
import type { ActionContext } from "./context.js";

/** Both sides agree: the journal row says so. */
export function record(context: ActionContext, item: PassItem) {
  const { entry, object, local } = item;
  if (!entry || !object) throw new Error("record needs both sides");
  context.deps.journal.putFile(
    context.rowFor(item.key, entry, local?.sha256 ?? null, {
      etag: object.etag,
      lastModified: object.lastModified.getTime(),
    }),
  );
  context.counts.recorded++;
}

/** The object is gone but `deletions: keep` keeps the file: a row with no object. */
export function keepLocal(context: ActionContext, item: PassItem) {
  const { entry, local } = item;
  if (!entry) throw new Error("keep-local needs a local entry");
  context.deps.journal.putFile(
    context.rowFor(item.key, entry, local?.sha256 ?? null, { etag: null, lastModified: null }),
  );
  context.deps.logger.debug("kept locally although deleted elsewhere (deletions: keep)", { path: item.key });
}
