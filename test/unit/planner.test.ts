import { test } from "node:test";
import assert from "node:assert/strict";
import { plan, type PlanInput, type PlanPolicy } from "../../src/reconcile/planner.js";
import type { BaseState, LocalState, RemoteState } from "../../src/reconcile/state.js";

const keepBoth: PlanPolicy = { conflicts: "keep-both", deletions: "propagate", modeMask: 0o1775 };

function local(sha: string, mtimeMs = 1000, extra: Partial<LocalState> = {}): LocalState {
  return { type: "file", size: 1, mtimeMs, mode: 0o644, owner: "www", group: "www", sha256: sha, ...extra };
}
function base(sha: string, etag: string | null = "e1", extra: Partial<BaseState> = {}): BaseState {
  return {
    type: "file",
    mtimeMs: 1000,
    mode: 0o644,
    owner: "www",
    group: "www",
    sha256: sha,
    target: null,
    remoteEtag: etag,
    ...extra,
  };
}
function remote(sha: string, etag = "e1", mtimeMs = 1000, extra: Partial<RemoteState> = {}): RemoteState {
  return { type: "file", etag, size: 1, lastModified: mtimeMs, sha256: sha, mtimeMs, mode: 0o644, ...extra };
}
const decide = (input: Omit<PlanInput, "key">, policy = keepBoth) => plan({ key: "f.txt", ...input }, policy);

test("same, same: nothing", () => {
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: remote("a") }), { kind: "none" });
});

test("new local file, never synced: create-only upload", () => {
  assert.deepEqual(decide({ local: local("a") }), { kind: "upload", dropTombstone: false });
});

test("changed locally, remote same: upload guarded by the old ETag", () => {
  assert.deepEqual(decide({ local: local("b"), base: base("a"), remote: remote("a") }), {
    kind: "upload",
    ifMatch: "e1",
    dropTombstone: false,
  });
});

test("a chmod or touch alone is a local change", () => {
  assert.equal(
    decide({ local: local("a", 1000, { mode: 0o600 }), base: base("a"), remote: remote("a") }).kind,
    "upload",
  );
  assert.equal(decide({ local: local("a", 2000), base: base("a"), remote: remote("a") }).kind, "upload");
});

test("same locally, changed remotely: download", () => {
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: remote("b", "e2") }), {
    kind: "download",
  });
});

test("remote only, never synced: download", () => {
  assert.deepEqual(decide({ remote: remote("a") }), { kind: "download" });
});

test("deleted locally, remote same: delete remotely with a tombstone", () => {
  assert.deepEqual(decide({ base: base("a"), remote: remote("a") }), { kind: "delete-remote" });
});

test("same locally, deleted remotely: delete locally, or keep it under deletions: keep", () => {
  assert.deepEqual(decide({ local: local("a"), base: base("a") }), { kind: "delete-local" });
  assert.deepEqual(decide({ local: local("a"), base: base("a") }, { ...keepBoth, deletions: "keep" }), {
    kind: "keep-local",
  });
});

test("a kept file stays put until it changes, then it is published again", () => {
  assert.deepEqual(decide({ local: local("a"), base: base("a", null) }), { kind: "none" });
  assert.deepEqual(decide({ local: local("b"), base: base("a", null) }), {
    kind: "upload",
    dropTombstone: false,
  });
});

test("both changed to the same content: record only", () => {
  assert.deepEqual(decide({ local: local("b"), base: base("a"), remote: remote("b", "e2") }), {
    kind: "record",
  });
  assert.deepEqual(decide({ local: local("b"), remote: remote("b", "e2") }), { kind: "record" });
});

test("both changed differently: conflict, the newer mtime keeps the name", () => {
  assert.deepEqual(decide({ local: local("b", 3000), base: base("a"), remote: remote("c", "e2", 2000) }), {
    kind: "conflict",
    winner: "local",
    keepLoser: true,
    mode: 0o644,
  });
  assert.deepEqual(decide({ local: local("b", 1000), base: base("a"), remote: remote("c", "e2", 2000) }), {
    kind: "conflict",
    winner: "remote",
    keepLoser: true,
    mode: 0o644,
  });
});

test("both new and different: conflict; newest-wins drops the loser", () => {
  assert.deepEqual(
    decide(
      { local: local("b", 3000), remote: remote("c", "e2", 2000) },
      { ...keepBoth, conflicts: "newest-wins" },
    ),
    {
      kind: "conflict",
      winner: "local",
      keepLoser: false,
      mode: 0o644,
    },
  );
});

test("a tie in mtime keeps the published version", () => {
  assert.equal(
    (
      decide({ local: local("b", 2000), base: base("a"), remote: remote("c", "e2", 2000) }) as {
        winner: string;
      }
    ).winner,
    "remote",
  );
});

test("same bytes created on both sides with different modes: the stricter mode, the newer mtime", () => {
  assert.deepEqual(decide({ local: local("a", 3000, { mode: 0o600 }), remote: remote("a", "e2", 2000) }), {
    kind: "upload",
    ifMatch: "e2",
    dropTombstone: false,
  });
  assert.deepEqual(decide({ local: local("a", 1000, { mode: 0o600 }), remote: remote("a", "e2", 2000) }), {
    kind: "merge-meta",
    mode: 0o600,
    mtimeMs: 2000,
    ifMatch: "e2",
  });
});

test("a chmod on one side and a touch on the other: the chmod survives, the newer mtime too", () => {
  // A made it 600; C only touched it later (newer mtime, mode unchanged): the result is 600 with C's mtime.
  assert.deepEqual(
    decide({ local: local("a", 5000), base: base("a"), remote: remote("a", "e2", 1000, { mode: 0o600 }) }),
    { kind: "merge-meta", mode: 0o600, mtimeMs: 5000, ifMatch: "e2" },
  );
  assert.deepEqual(
    decide({ local: local("a", 1000, { mode: 0o600 }), base: base("a"), remote: remote("a", "e2", 5000) }),
    { kind: "merge-meta", mode: 0o600, mtimeMs: 5000, ifMatch: "e2" },
  );
});

test("both sides changed the mode: the intersection of the bits wins", () => {
  assert.deepEqual(
    decide({
      local: local("a", 1000, { mode: 0o640 }),
      base: base("a"),
      remote: remote("a", "e2", 1000, { mode: 0o604 }),
    }),
    { kind: "merge-meta", mode: 0o600, mtimeMs: 1000, ifMatch: "e2" },
  );
});

test("a chmod on one side and an edit on the other: the edit wins without a copy, with the stricter mode", () => {
  assert.deepEqual(
    decide({ local: local("b", 3000), base: base("a"), remote: remote("a", "e2", 1000, { mode: 0o600 }) }),
    { kind: "merge-meta", mode: 0o600, mtimeMs: 3000, ifMatch: "e2" },
  );
  assert.deepEqual(
    decide({ local: local("a", 1000, { mode: 0o600 }), base: base("a"), remote: remote("b", "e2", 3000) }),
    { kind: "download", mode: 0o600 },
  );
});

test("modes compare within mode_mask: a world-writable bit alone is no difference", () => {
  assert.deepEqual(
    decide({
      local: local("a", 1000, { mode: 0o664 }),
      base: base("a", "e1", { mode: 0o664 }),
      remote: remote("a", "e1", 1000, { mode: 0o666 }),
    }),
    { kind: "none" },
  );
});

test("a tombstone this machine has met does not delete a file created here since", () => {
  const tombstone = { type: "file" as const, deletedAt: 5, sha256: "a" };
  assert.deepEqual(decide({ local: local("a"), tombstone }), { kind: "delete-local" });
  assert.deepEqual(decide({ local: local("a"), tombstone: { ...tombstone, stale: true } }), {
    kind: "upload",
    dropTombstone: true,
  });
});

test("deleted locally, changed remotely: the modification wins (download)", () => {
  assert.deepEqual(decide({ base: base("a"), remote: remote("b", "e2") }), { kind: "download" });
});

test("changed locally, deleted remotely: upload again and drop the tombstone", () => {
  const tombstone = { type: "file" as const, deletedAt: 5, sha256: "a" };
  assert.deepEqual(decide({ local: local("b"), base: base("a"), tombstone }), {
    kind: "upload",
    dropTombstone: true,
  });
});

test("deleted on both sides: forget the journal row", () => {
  assert.deepEqual(decide({ base: base("a") }), { kind: "forget" });
});

test("unknown local file covered by a tombstone of the same content: deleted elsewhere, not resurrected", () => {
  const tombstone = { type: "file" as const, deletedAt: 5, sha256: "a" };
  assert.deepEqual(decide({ local: local("a"), tombstone }), { kind: "delete-local" });
  assert.deepEqual(decide({ local: local("b"), tombstone }), { kind: "upload", dropTombstone: true });
});

test("type change file -> symlink at the same key is a local change", () => {
  const link = local("", 1000, { type: "symlink", target: "other", sha256: undefined });
  assert.deepEqual(decide({ local: link, base: base("a"), remote: remote("a") }), {
    kind: "upload",
    ifMatch: "e1",
    dropTombstone: false,
  });
});

test("directories: both new agree; a mode change is a change", () => {
  const dir = { type: "dir" as const, size: 0, mtimeMs: 5, mode: 0o755, owner: "www", group: "www" };
  assert.deepEqual(
    decide({ local: dir, remote: remote("", "d1", 9, { type: "dir", sha256: undefined, mode: 0o755 }) }),
    {
      kind: "record",
    },
  );
  const dirBase = base("", "d1", { type: "dir", sha256: null, mode: 0o755, mtimeMs: 1 });
  const dirObject = remote("", "d1", 9, { type: "dir", mode: 0o755 });
  assert.deepEqual(decide({ local: dir, base: dirBase, remote: dirObject }), {
    kind: "none",
  });
  assert.equal(decide({ local: { ...dir, mode: 0o700 }, base: dirBase, remote: dirObject }).kind, "upload");
});

test("a change that keeps the bytes (and so the ETag) is still a remote change", () => {
  const chmodded = remote("a", "e1", 1000, { mode: 0o600 });
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: chmodded }), { kind: "download" });
  const touched = remote("a", "e1", 5000);
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: touched }), { kind: "download" });
  const link = {
    type: "symlink" as const,
    size: 0,
    mtimeMs: 1,
    mode: 0o777,
    owner: "www",
    group: "www",
    target: "x",
  };
  const linkBase = base("", "empty", { type: "symlink", sha256: null, target: "x" });
  const retargeted = remote("", "empty", 1, { type: "symlink", sha256: undefined, target: "y" });
  assert.deepEqual(decide({ local: link, base: linkBase, remote: retargeted }), { kind: "download" });
  const dirBase = base("", "empty", { type: "dir", sha256: null, mode: 0o755 });
  const dir = { type: "dir" as const, size: 0, mtimeMs: 1, mode: 0o755, owner: "www", group: "www" };
  const dirObject = remote("", "empty", 1, { type: "dir", sha256: undefined, mode: 0o700 });
  assert.deepEqual(decide({ local: dir, base: dirBase, remote: dirObject }), { kind: "download" });
});

test("setuid bits, owner and group of the object are not remote changes", () => {
  const setuid = remote("a", "e1", 1000, { mode: 0o4644, owner: "root", group: "wheel" });
  assert.deepEqual(decide({ local: local("a"), base: base("a"), remote: setuid }), { kind: "none" });
});
