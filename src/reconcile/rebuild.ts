import pLimit from "p-limit";
import type { Config, SetConfig } from "../config/types.js";
import type { Datastore, ObjectInfo } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/index.js";
import type { LocalEntry } from "../scan/entry.js";
import { sha256File } from "../scan/hash.js";
import { loadSetIgnore } from "./ignore-rules.js";
import { absolutePath } from "./localfs.js";
import { OwnerNames } from "./owners.js";
import { plan } from "./planner.js";
import { joinTree } from "./sources.js";
import { agreedRow, localStateOf, remoteStateOf } from "./state.js";

/** A set that cannot be rebuilt (its ignore file is unreadable): nothing was recorded for it. */
export class RebuildError extends Error {
  override name = "RebuildError";
}

/** What the rebuild found in one set. */
export interface RebuildCounts {
  /** Present on both sides with the same content and metadata: recorded as agreed. */
  agreed: number;
  /** Present on both sides but different: left for the next pass (a conflict keeps both versions). */
  differing: number;
  /** Only in the tree: the next pass uploads it (or applies a deletion mark that names this content). */
  localOnly: number;
  /** Only in the bucket: the next pass downloads it. */
  remoteOnly: number;
  /** Entries that could not be read: left alone. */
  unreadable: number;
}

/**
 * Records, in `journal` (fresh), every path of the set on which the tree and the bucket agree: the same
 * content (the local hash equals the object's fedsync-sha256, or the same symlink target, or both a
 * directory) and the same metadata, exactly what a pass with no journal would record. Everything else stays
 * unrecorded, so the next pass sees it as new on both sides: it keeps both versions of what differs, and
 * neither side's copy can be taken for a deletion. Reads the tree and the bucket; writes neither.
 */
export async function rebuildSet(
  deps: { config: Config; set: SetConfig; journal: Journal; datastore: Datastore; logger: Logger },
  now: () => number = Date.now,
): Promise<RebuildCounts> {
  const { config, set, journal } = deps;
  const logger = deps.logger.child({ set: set.name });
  const owners = new OwnerNames();
  const counts: RebuildCounts = { agreed: 0, differing: 0, localOnly: 0, remoteOnly: 0, unreadable: 0 };
  const limit = pLimit(config.concurrency);
  const running = new Set<Promise<void>>();
  const compare = async (entry: LocalEntry, info: ObjectInfo) => {
    const sha256 = entry.type === "file" ? await sha256File(absolutePath(set.path, entry.key)) : undefined;
    const local = localStateOf(entry, owners, sha256);
    const remote = remoteStateOf(entry.key, info, logger);
    if (plan({ key: entry.key, local, remote }, set).kind === "record") {
      const remote = { etag: info.etag, lastModified: info.lastModified.getTime() };
      journal.putFile(agreedRow(set.name, entry.key, entry, owners, local.sha256 ?? null, remote, now()));
      counts.agreed++;
    } else {
      counts.differing++;
    }
  };
  const ignore = await loadSetIgnore(set, logger);
  if ("error" in ignore) throw new RebuildError(`${set.name}: ${ignore.error}`);
  const sourceDeps = { set, journal, datastore: deps.datastore, logger, ignored: ignore.ignored };
  for await (const join of joinTree(sourceDeps, "")) {
    const entry = join.local?.entry;
    if (join.local?.problem) {
      logger.warn(`skipping ${join.key}: ${join.local.problem.detail}`, { path: join.key });
      counts.unreadable++;
    } else if (entry && join.remote) {
      const info = join.remote.info;
      const task = limit(() => compare(entry, info)).catch((error: unknown) => {
        logger.warn(`cannot read ${entry.key}: ${error instanceof Error ? error.message : String(error)}`, {
          path: entry.key,
        });
        counts.unreadable++;
      });
      running.add(task);
      void task.finally(() => running.delete(task));
      if (limit.pendingCount > config.concurrency * 4) await Promise.race(running);
    } else if (entry) {
      counts.localOnly++;
    } else if (join.remote) {
      counts.remoteOnly++;
    }
  }
  await Promise.all(running);
  // The rebuild read both sides in full: the pass guard for a journal that never saw the set stands down.
  journal.updateSetState(set.name, { lastFullPass: now() });
  return counts;
}
