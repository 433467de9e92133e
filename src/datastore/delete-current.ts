/**
 * Deleting an object only while it is still the version the caller planned against (as its stat saw it).
 *
 * MinIO ignores `If-Match` on DeleteObject, so the check is made after the fact where the bucket allows it:
 * with versioning enabled a deletion only adds a delete marker, and the version right under that marker
 * (other delete markers aside) must be the one planned. If it is not, another machine wrote between the stat
 * and the deletion: the marker is removed again, which makes that write current, and the deletion counts as
 * lost. Without versioning (off or suspended) a deletion cannot be taken back, and the stat is the only check.
 */
import { PreconditionFailedError } from "./errors.js";
import type { ObjectInfo, ObjectVersion } from "./types.js";

export interface DeleteOps {
  /**
   * Deletes the key, or one version of it. Returns the version id of the delete marker this made, when it made
   * one with versioning enabled.
   */
  deleteObject(key: string, versionId?: string): Promise<string | undefined>;
  /** The first page of versions under `key` (by key, newest first within a key), delete markers included. */
  versionsPage(key: string): Promise<ObjectVersion[]>;
}

export async function deleteIfCurrent(ops: DeleteOps, key: string, expected: ObjectInfo): Promise<void> {
  const marker = await ops.deleteObject(key);
  if (expected.versionId === undefined || marker === undefined) return;
  const versions = (await ops.versionsPage(key)).filter((version) => version.key === key);
  const index = versions.findIndex((version) => version.versionId === marker);
  const hidden =
    index === -1 ? undefined : versions.slice(index + 1).find((version) => !version.deleteMarker);
  if (hidden?.versionId === expected.versionId) return;
  await ops.deleteObject(key, marker);
  throw new PreconditionFailedError(key);
}
