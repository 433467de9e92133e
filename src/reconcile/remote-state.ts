import { decodeEntryMeta, decodeTombstoneMeta } from "../datastore/metadata.js";
import type { ObjectInfo } from "../datastore/types.js";
import type { FileRow } from "../journal/types.js";
import { logOnce, type Logger } from "../log/index.js";
import { isDirKey } from "../scan/entry.js";
import type { RemoteState, TombstoneState } from "./state.js";

/** The bucket side of one key as the planner sees it; the key's trailing `/` alone says what is a directory. */
export function remoteState(key: string, info: ObjectInfo, logger: Logger): RemoteState {
  const decoded = decodeEntryMeta(info.metadata);
  const shape = isDirKey(key) ? "dir" : "file";
  const typeFits = !decoded?.meta || (decoded.meta.type === "dir") === (shape === "dir");
  const invalid = [...(decoded?.invalid ?? []), ...(typeFits ? [] : ["fedsync-type"])];
  if (invalid.length) {
    logOnce(logger, `meta:${info.key}:${info.etag}`, "warn", `ignoring invalid metadata on ${info.key}`, {
      fields: invalid.join(","),
    });
  }
  const meta = typeFits ? decoded?.meta : undefined;
  return {
    type: meta?.type ?? shape,
    etag: info.etag,
    size: info.size,
    lastModified: info.lastModified.getTime(),
    sha256: meta?.sha256,
    mtimeMs: meta?.mtimeMs,
    mode: meta?.mode,
    owner: meta?.owner,
    group: meta?.group,
    origin: meta?.origin,
    target: meta?.target,
  };
}

/**
 * The bucket side of a key whose object is still the version its journal row agreed with (same ETag and
 * Last-Modified, see Listed.current): the metadata it was written with is what the row recorded.
 */
export function agreedRemoteState(row: FileRow, info: ObjectInfo): RemoteState {
  const symlink = row.type === "symlink";
  return {
    type: row.type,
    etag: info.etag,
    size: info.size,
    lastModified: info.lastModified.getTime(),
    sha256: row.sha256 ?? undefined,
    mtimeMs: symlink ? undefined : row.mtimeMs,
    mode: symlink ? undefined : row.mode,
    owner: row.owner ?? undefined,
    group: row.group ?? undefined,
    target: row.target ?? undefined,
  };
}

/** A deletion mark as the planner sees it: who deleted what, and when. */
export function tombstoneState(key: string, info: ObjectInfo): TombstoneState {
  const meta = decodeTombstoneMeta(info.metadata);
  const type = info.metadata?.["fedsync-type"];
  return {
    type: type === "file" || type === "symlink" || type === "dir" ? type : isDirKey(key) ? "dir" : "file",
    deletedAt: meta?.deletedAt ?? info.lastModified.getTime(),
    deletedBy: meta?.deletedBy,
    sha256: meta?.sha256,
  };
}
