import { createHash } from "node:crypto";
import { pipeline, Readable, Transform } from "node:stream";
import { encodeEntryMeta } from "../../datastore/metadata.js";
import type { PutResult } from "../../datastore/types.js";
import type { LocalEntry } from "../../scan/entry.js";
import { openTreeFile } from "../../scan/hash.js";
import type { PassItem } from "../item.js";
import { RefusedError } from "../localfs.js";
import type { ActionContext } from "./context.js";

/** Files up to this size are read into memory once, so the bytes uploaded are the bytes hashed. */
const BUFFERED_UPLOAD_LIMIT = 8 * 1024 * 1024;

/**
 * Publishes the local entry at `key`: the item's own key (with the entry and bytes the plan saw, unless
 * `fresh` asks to look again after this pass changed it), or a conflict copy.
 */
export async function upload(
  context: ActionContext,
  item: PassItem,
  key: string,
  ifMatch: string | undefined,
  dropTombstone: boolean,
  fresh = false,
) {
  const { deps, counts } = context;
  const planned = key === item.key && !fresh;
  const entry = planned ? item.entry : await context.lstatEntry(key);
  if (!entry) throw new RefusedError(`${key} vanished before upload`);
  const owner = deps.owners.userName(entry.uid);
  const group = deps.owners.groupName(entry.gid);
  const condition = ifMatch ? { ifMatch } : { ifNoneMatch: true };
  const { body, sha256 } =
    entry.type === "file"
      ? await readForUpload(context.root, key, entry, planned ? item : undefined)
      : { body: Buffer.alloc(0), sha256: undefined };
  const metadata = encodeEntryMeta({
    type: entry.type,
    sha256,
    mtimeMs: entry.type === "symlink" ? undefined : entry.mtimeMs,
    mode: entry.type === "symlink" ? undefined : entry.mode,
    owner,
    group,
    origin: deps.config.machine,
    target: entry.target,
  });
  // The change-log record is noted before the write and made publishable after it, whatever happened:
  // a record is only a hint, and one for a write that did land must never be lost (see Journal outbox).
  const change = deps.journal.noteChange(deps.set.name, { path: key, op: "put", sha256 });
  let written: PutResult | undefined;
  try {
    written = await deps.datastore.put(context.objectKey(key), body, entry.size, metadata, condition);
  } finally {
    context.changeWritten(change, written?.etag);
  }
  const { etag } = written;
  if (written.conditionOverruled) {
    deps.logger.warn(
      `${key}: the bucket refused the conditional write although its HEAD showed the version planned from (an object a distributed MinIO has not healed yet?); written after that check`,
      { path: key },
    );
    deps.journal.noteUnconfirmed(deps.set.name, key, { etag, writtenAt: deps.now() });
  } else deps.journal.forgetUnconfirmed(deps.set.name, key);
  // The bucket's Last-Modified is not in a PUT answer; the next listing learns it (see againstJournal).
  deps.journal.putFile(context.rowFor(key, entry, sha256 ?? null, { etag, lastModified: null }));
  if (dropTombstone) {
    await deps.datastore.delete([context.tombstoneKey(key)]);
    deps.journal.forgetAppliedTombstone(deps.set.name, key);
  }
  counts.uploaded++;
  counts.bytesUp += entry.size;
  context.audit.record({
    path: key,
    action: "upload",
    origin: deps.config.machine,
    sha256,
    size: entry.size,
  });
}

/**
 * The bytes of the file the scan saw at `key` (same device and inode, never through a symlink), with their
 * sha256: those the plan already read for a small file, else read now.
 */
async function readForUpload(
  root: string,
  key: string,
  entry: LocalEntry,
  planned: PassItem | undefined,
): Promise<{ body: Buffer | Readable; sha256: string }> {
  if (planned?.content) {
    return { body: planned.content, sha256: createHash("sha256").update(planned.content).digest("hex") };
  }
  const handle = await openTreeFile(root, key, entry);
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
