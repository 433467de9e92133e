import { createReadStream } from "node:fs";
import { lstat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import type { Readable } from "node:stream";
import type { Config } from "../config/types.js";
import { decodeTombstoneMeta } from "../datastore/metadata.js";
import type { Datastore } from "../datastore/types.js";
import { tombstonePrefix } from "../datastore/layout.js";
import { writeFileAtomic } from "./atomic-write.js";
import type { Ownership } from "./localfs.js";
import { OwnerNames } from "./owners.js";
import { entryKeyToObjectKey } from "../scan/keys.js";
import type { FileTarget } from "../history/target.js";
import { trashPath } from "../history/trash.js";
import type { FileVersion } from "../history/versions.js";

/** Setuid/setgid bits never come back with a restored file. */
const SAFE_MODE_BITS = 0o1777;

/** The requested version cannot be restored (unknown, a deletion, not a file, a target in the way). */
export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestoreError";
  }
}

export interface VersionChoice {
  /** A version id as `fedsync history` shows it. */
  id?: string;
  /** The version that was current at this time (ms). */
  at?: number;
}

function describe(version: FileVersion): string {
  return `${new Date(version.time).toISOString()}${version.origin ? ` by ${version.origin}` : ""}`;
}

/**
 * The version to restore: the one with `choice.id`, the one current at `choice.at`, or by default the newest
 * one whose content differs from the local file's (`currentSha256`; null when there is none).
 */
export function chooseVersion(
  versions: readonly FileVersion[],
  choice: VersionChoice,
  currentSha256: string | null,
  name: string,
): FileVersion {
  let chosen: FileVersion | undefined;
  if (choice.id !== undefined) {
    chosen = versions.find((version) => version.id === choice.id);
    if (!chosen)
      throw new RestoreError(`no version ${choice.id} of ${name} (see \`fedsync history ${name}\`)`);
  } else if (choice.at !== undefined) {
    const at = choice.at;
    chosen = versions.find((version) => version.time <= at);
    if (!chosen) {
      throw new RestoreError(`no version of ${name} is known from before ${new Date(at).toISOString()}`);
    }
    if (chosen.deleted) {
      throw new RestoreError(
        `${name} did not exist at ${new Date(at).toISOString()}: deleted ${describe(chosen)}`,
      );
    }
  } else {
    chosen = versions.find((version) => !version.deleted && version.sha256 !== currentSha256);
    if (!chosen) throw new RestoreError(`no other version of ${name} is known`);
  }
  if (chosen.type !== "file") {
    throw new RestoreError(`version ${chosen.id} of ${name} is a ${chosen.type}; only files can be restored`);
  }
  return chosen;
}

export interface RestoreDeps {
  config: Config;
  datastore: Datastore;
  now?: () => number;
}

export interface Restored {
  /** Where the version was written. */
  path: string;
  /** A tombstone that would have deleted the restored file again was removed. */
  droppedTombstone: boolean;
}

function openVersion(datastore: Datastore, target: FileTarget, version: FileVersion): Promise<Readable> {
  if (version.source === "trash" && version.file) return Promise.resolve(createReadStream(version.file));
  if (version.id === null) throw new RestoreError("a deletion has no content to restore");
  return datastore.getVersion(entryKeyToObjectKey(target.set.prefix, target.key), version.id);
}

function ownership(target: FileTarget): Ownership {
  if (process.getuid?.() !== 0) return {};
  const owners = new OwnerNames();
  const { owner, group } = target.set;
  return {
    uid: owner === undefined ? undefined : owners.uid(owner),
    gid: group === undefined ? undefined : owners.gid(group),
  };
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * A tombstone saying this very content was deleted would make the agent delete the restored file again
 * (DESIGN §4: a local file a tombstone covers is a stale copy). Restoring is the user undoing that
 * deletion, so the tombstone goes first; the file then syncs as a new one.
 */
async function dropCoveringTombstone(datastore: Datastore, target: FileTarget, sha256: string | null) {
  const key = tombstonePrefix(target.set.name) + target.key;
  const tombstone = await datastore.stat(key);
  const meta = tombstone && decodeTombstoneMeta(tombstone.metadata);
  if (!meta || (meta.type !== undefined && meta.type !== "file") || meta.sha256 !== sha256) return false;
  await datastore.delete([key]);
  return true;
}

/**
 * Writes `version` of `target` atomically, in place (a local change the agent then publishes like any
 * other; the replaced file goes to the trash under `keep_deleted`) or to the new file `to`.
 */
export async function restoreVersion(
  deps: RestoreDeps,
  target: FileTarget,
  version: FileVersion,
  to?: string,
): Promise<Restored> {
  const write = {
    mode: (version.mode ?? 0o644) & SAFE_MODE_BITS,
    mtimeMs: version.mtimeMs ?? version.time,
    owner: ownership(target),
    sha256: version.sha256 ?? undefined,
    size: version.size,
  };
  if (to !== undefined) {
    const path = resolve(to);
    if (await lstatOrUndefined(path)) throw new RestoreError(`${path} already exists; choose a new file`);
    const stream = await openVersion(deps.datastore, target, version);
    await writeFileAtomic(dirname(path), basename(path), stream, { ...write, expected: null });
    return { path, droppedTombstone: false };
  }
  const existing = await lstatOrUndefined(target.path);
  if (existing?.isDirectory()) throw new RestoreError(`${target.path} is a directory; not replaced`);
  const stream = await openVersion(deps.datastore, target, version);
  let droppedTombstone: boolean;
  try {
    droppedTombstone = await dropCoveringTombstone(deps.datastore, target, version.sha256);
  } catch (error) {
    stream.destroy();
    throw error;
  }
  const now = deps.now ?? Date.now;
  await writeFileAtomic(target.set.path, target.key, stream, {
    ...write,
    keepPreviousAt:
      target.set.keepDeleted && existing?.isFile()
        ? trashPath(deps.config.stateDir, target.set.name, now(), target.key)
        : undefined,
  });
  return { path: target.path, droppedTombstone };
}
