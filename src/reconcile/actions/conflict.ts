import { conflictCopyKeys } from "../conflict-name.js";
import type { PassItem } from "../item.js";
import { ensureDirectory, firstFreeKey, moveAside, setFileMeta } from "../local-changes.js";
import type { Side } from "../planner.js";
import { expectedOf, type ActionContext } from "./context.js";
import { download } from "./download.js";
import { upload } from "./upload.js";

/** Same content on both sides: the merged mode and mtime here, then in the bucket. */
export async function mergeMeta(
  context: ActionContext,
  item: PassItem,
  mode: number,
  mtimeMs: number,
  ifMatch: string,
) {
  const { entry } = item;
  if (!entry) throw new Error("merge-meta needs a local entry");
  if (entry.type === "dir") await ensureDirectory(context.root, item.key, mode, {});
  else await setFileMeta(context.root, item.key, { mode, mtimeMs }, expectedOf(entry)!);
  context.deps.logger.info(`${item.key}: both sides changed its metadata; mode ${mode.toString(8)} kept`, {
    path: item.key,
  });
  await upload(context, item, item.key, ifMatch, false, true);
}

/** Both sides changed the content: the winner keeps the name, the loser is kept as a copy or dropped. */
export async function conflict(
  context: ActionContext,
  item: PassItem,
  winner: Side,
  keepLoser: boolean,
  mode: number,
) {
  const { deps, root } = context;
  const { remote, entry } = item;
  if (!remote || !entry) throw new Error("conflict needs both sides");
  const loserMachine = winner === "local" ? (remote.origin ?? "unknown") : deps.config.machine;
  const candidates = conflictCopyKeys(item.key, loserMachine, deps.now());
  let copyKey = candidates[0]!;
  if (winner === "remote") {
    if (keepLoser) {
      copyKey = await moveAside(root, item.key, candidates, expectedOf(entry)!);
      await upload(context, item, copyKey, undefined, false);
      await download(context, item, item.key, null, { keepPrevious: false, mode });
    } else {
      await download(context, item, item.key, entry, { mode });
    }
    if (remote.type === "file" && mode !== context.modeFor(remote.mode, "file")) {
      await upload(context, item, item.key, remote.etag, false, true);
    }
  } else {
    if (keepLoser) {
      copyKey = await firstFreeKey(root, candidates);
      await download(context, item, copyKey, null, { keepPrevious: false });
      await upload(context, item, copyKey, undefined, false);
    }
    if (mode !== (entry.mode & deps.set.modeMask) && entry.type === "file") {
      await setFileMeta(root, item.key, { mode, mtimeMs: entry.mtimeMs }, expectedOf(entry)!);
      await upload(context, item, item.key, remote.etag, false, true);
    } else {
      await upload(context, item, item.key, remote.etag, false);
    }
  }
  const winnerMachine = winner === "local" ? deps.config.machine : (remote.origin ?? "unknown");
  if (keepLoser) {
    deps.journal.addConflict({
      set: deps.set.name,
      path: item.key,
      copyPath: copyKey,
      winner: winnerMachine,
      loser: loserMachine,
      at: deps.now(),
    });
  }
  context.counts.conflicts++;
  context.audit.record(
    {
      path: item.key,
      action: "conflict",
      origin: remote.origin ?? "unknown",
      sha256: winner === "local" ? item.local?.sha256 : remote.sha256,
      size: winner === "local" ? entry.size : remote.size,
      detail: keepLoser ? copyKey : undefined,
    },
    {
      level: "warn",
      message: keepLoser
        ? `conflict: both sides changed ${item.key}; ${winnerMachine}'s version keeps the name, ${loserMachine}'s is saved as ${copyKey}`
        : `conflict: both sides changed ${item.key}; ${winnerMachine}'s newer version wins, ${loserMachine}'s is dropped`,
      fields: { winner: winnerMachine, loser: loserMachine, copy: keepLoser ? copyKey : undefined },
    },
  );
}
