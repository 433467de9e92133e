import assert from "node:assert/strict";
import { test } from "node:test";
import { deleteIfCurrent, type DeleteOps } from "../../src/datastore/delete-current.js";
import { PreconditionFailedError } from "../../src/datastore/errors.js";
import type { ObjectInfo, ObjectVersion } from "../../src/datastore/types.js";

function version(versionId: string, deleteMarker = false, key = "web/f"): ObjectVersion {
  return { key, versionId, deleteMarker, isLatest: false, size: 0, etag: "e", lastModified: new Date(0) };
}

/** The delete operations over a list of versions, newest first, as a versioned bucket keeps them. */
function bucket(versions: ObjectVersion[], markerId: string | undefined, writeBefore?: string) {
  const calls: string[] = [];
  const ops: DeleteOps = {
    deleteObject: (key, versionId) => {
      calls.push(versionId === undefined ? `delete ${key}` : `delete ${key} version ${versionId}`);
      if (versionId !== undefined) {
        versions.splice(
          versions.findIndex((v) => v.versionId === versionId),
          1,
        );
        return Promise.resolve(undefined);
      }
      if (writeBefore) versions.unshift(version(writeBefore));
      if (markerId) versions.unshift(version(markerId, true));
      return Promise.resolve(markerId);
    },
    versionsPage: () => Promise.resolve([...versions, version("x", false, "web/f2")]),
  };
  return { ops, calls, versions };
}

const planned: ObjectInfo = { key: "web/f", size: 1, etag: "e", lastModified: new Date(0), versionId: "v1" };

test("a deletion that lands on the planned version stands", async () => {
  const { ops, calls } = bucket([version("v1"), version("v0")], "dm");
  await deleteIfCurrent(ops, "web/f", planned);
  assert.deepEqual(calls, ["delete web/f"]);
});

test("a deletion that hid a version written after the stat is taken back", async () => {
  const { ops, calls, versions } = bucket([version("v1")], "dm", "v2");
  await assert.rejects(deleteIfCurrent(ops, "web/f", planned), PreconditionFailedError);
  assert.deepEqual(calls, ["delete web/f", "delete web/f version dm"]);
  assert.deepEqual(
    versions.map((v) => v.versionId),
    ["v2", "v1"],
  );
});

test("other delete markers under this one (a retried request, a concurrent deletion) do not count", async () => {
  const { ops, calls } = bucket([version("dm0", true), version("v1")], "dm");
  await deleteIfCurrent(ops, "web/f", planned);
  assert.deepEqual(calls, ["delete web/f"]);
});

test("without versioning (no version id, no delete marker) the deletion is not checked afterwards", async () => {
  const unversioned = bucket([], undefined);
  await deleteIfCurrent(unversioned.ops, "web/f", { ...planned, versionId: undefined });
  assert.deepEqual(unversioned.calls, ["delete web/f"]);
  // A suspended bucket: the object has a version id from before, the marker is the null version.
  const suspended = bucket([version("v1")], undefined, "null");
  await deleteIfCurrent(suspended.ops, "web/f", planned);
  assert.deepEqual(suspended.calls, ["delete web/f"]);
});
