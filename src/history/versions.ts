import { stat } from "node:fs/promises";
import type { Config } from "../config/types.js";
import { decodeEntryMeta, decodeTombstoneMeta } from "../datastore/metadata.js";
import type { BucketVersioning, Datastore, ObjectVersion } from "../datastore/types.js";
import type { HistoryRow } from "../journal/history.js";
import type { Journal } from "../journal/journal.js";
import { tombstonePrefix } from "../datastore/layout.js";
import type { EntryType } from "../scan/entry.js";
import { sha256File } from "../scan/hash.js";
import { entryKeyToObjectKey } from "../scan/keys.js";
import type { FileTarget } from "./target.js";
import { trashedCopies } from "./trash.js";

/** A trash copy's version id: `trash:` and its timestamp directory. */
export const TRASH_ID_PREFIX = "trash:";

/** A delete marker this close to a tombstone is the same deletion. */
const SAME_DELETION_MS = 60_000;

/** One known version of a file, or one deletion of it. */
export interface FileVersion {
  /** What `restore --version-id` takes: the bucket's version id, or `trash:<timestamp>`; null for a deletion. */
  id: string | null;
  source: "bucket" | "trash";
  /** A deletion: the file did not exist from `time` on (until a later version); nothing to restore. */
  deleted: boolean;
  /** When the version was published (bucket), came here (trash), or the file was deleted. */
  time: number;
  /** The machine that wrote (or deleted) it; null when unknown. */
  origin: string | null;
  type: EntryType;
  size: number;
  sha256: string | null;
  /** The bucket's current version. */
  current: boolean;
  /** Modification time and mode the version carried, when known. */
  mtimeMs?: number;
  mode?: number;
  /** Trash: the local copy. */
  file?: string;
  /** Trash: when the agent replaced or deleted the local file and kept this copy. */
  trashedAt?: number;
}

export interface VersionDeps {
  config: Config;
  datastore: Datastore;
  /** This machine's journal, for the origins of trash copies; without it they are unknown. */
  journal?: Journal;
}

export interface FileVersions {
  versioning: BucketVersioning;
  /** Newest first. */
  versions: FileVersion[];
}

function bucketVersion(version: ObjectVersion): FileVersion {
  const meta = decodeEntryMeta(version.metadata)?.meta;
  return {
    id: version.versionId,
    source: "bucket",
    deleted: false,
    time: version.lastModified.getTime(),
    origin: meta?.origin ?? null,
    type: meta?.type ?? "file",
    size: version.size,
    sha256: meta?.sha256 ?? null,
    current: version.isLatest,
    mtimeMs: meta?.mtimeMs,
    mode: meta?.mode,
  };
}

function deletion(time: number, origin: string | null, sha256: string | null, type: EntryType): FileVersion {
  return { id: null, source: "bucket", deleted: true, time, origin, type, size: 0, sha256, current: false };
}

/**
 * Deletions from the tombstone's versions (every one of them in a versioned bucket, the current one
 * otherwise), plus delete markers that no tombstone explains (a deletion by another S3 tool).
 */
function deletions(content: ObjectVersion[], tombstones: ObjectVersion[]): FileVersion[] {
  const result: FileVersion[] = [];
  for (const version of tombstones) {
    if (version.deleteMarker) continue;
    const meta = decodeTombstoneMeta(version.metadata);
    result.push(
      deletion(
        meta?.deletedAt ?? version.lastModified.getTime(),
        meta?.deletedBy ?? null,
        meta?.sha256 ?? null,
        meta?.type ?? "file",
      ),
    );
  }
  for (const marker of content.filter((version) => version.deleteMarker)) {
    const at = marker.lastModified.getTime();
    if (!result.some((known) => Math.abs(known.time - at) <= SAME_DELETION_MS)) {
      result.push(deletion(at, null, null, "file"));
    }
  }
  return result;
}

/** The history row that brought this content here: its origin and time, if the journal still has it. */
function arrival(rows: HistoryRow[], sha256: string, before: number): HistoryRow | undefined {
  return rows.find(
    (row) =>
      row.at <= before && row.sha256 === sha256 && (row.action === "upload" || row.action === "download"),
  );
}

async function trashVersions(deps: VersionDeps, target: FileTarget): Promise<FileVersion[]> {
  const copies = await trashedCopies(deps.config.stateDir, target.set.name, target.key);
  if (copies.length === 0) return [];
  const rows = deps.journal ? [...deps.journal.history({ set: target.set.name, path: target.key })] : [];
  const versions: FileVersion[] = [];
  for (const copy of copies) {
    const stats = await stat(copy.file);
    const sha256 = await sha256File(copy.file);
    const row = arrival(rows, sha256, copy.trashedAt);
    versions.push({
      id: TRASH_ID_PREFIX + copy.stamp,
      source: "trash",
      deleted: false,
      time: row?.at ?? Math.trunc(stats.mtimeMs),
      origin: row?.origin ?? null,
      type: "file",
      size: stats.size,
      sha256,
      current: false,
      mtimeMs: Math.trunc(stats.mtimeMs),
      mode: stats.mode & 0o7777,
      file: copy.file,
      trashedAt: copy.trashedAt,
    });
  }
  return versions;
}

/**
 * Every known version of one file: the bucket's versions (all of them when the bucket keeps versions, the
 * current object otherwise), its deletions (from tombstones), and this machine's trash copies. Newest first.
 */
export async function fileVersions(deps: VersionDeps, target: FileTarget): Promise<FileVersions> {
  const { datastore } = deps;
  const objectKey = entryKeyToObjectKey(target.set.prefix, target.key);
  const [versioning, content, tombstones, trash] = await Promise.all([
    datastore.versioning(),
    datastore.listVersions(objectKey),
    datastore.listVersions(tombstonePrefix(target.set.name) + target.key),
    trashVersions(deps, target),
  ]);
  const versions = [
    ...content.filter((version) => !version.deleteMarker).map(bucketVersion),
    ...deletions(content, tombstones),
    ...trash,
  ];
  versions.sort((a, b) => b.time - a.time || Number(b.current) - Number(a.current));
  return { versioning, versions };
}
