/**
 * The decision table, once: each row as docs/design.md shows it (L, R, action) with the planner inputs that
 * stand for it and the actions `plan()` must return. test/unit/planner.test.ts runs every case, and checks
 * that the table in docs/design.md is `renderDecisionTable()`; `npm run docs:decisions` rewrites it.
 */
import type { Action, PlanInput, PlanPolicy } from "../../src/reconcile/planner.js";
import type { BaseState, LocalState, RemoteState, TombstoneState } from "../../src/reconcile/state.js";

export const keepBoth: PlanPolicy = { conflicts: "keep-both", deletions: "propagate", modeMask: 0o1775 };

export function local(sha: string, mtimeMs = 1000, extra: Partial<LocalState> = {}): LocalState {
  return { type: "file", size: 1, mtimeMs, mode: 0o644, owner: "www", group: "www", sha256: sha, ...extra };
}

export function base(sha: string, etag: string | null = "e1", extra: Partial<BaseState> = {}): BaseState {
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

export function remote(
  sha: string,
  etag = "e1",
  mtimeMs = 1000,
  extra: Partial<RemoteState> = {},
): RemoteState {
  return { type: "file", etag, size: 1, lastModified: mtimeMs, sha256: sha, mtimeMs, mode: 0o644, ...extra };
}

const tombstone: TombstoneState = { type: "file", deletedAt: 5, sha256: "a" };

export interface DecisionCase {
  input: Omit<PlanInput, "key">;
  policy?: PlanPolicy;
  expect: Action;
}

export interface DecisionRow {
  l: string;
  r: string;
  action: string;
  cases: DecisionCase[];
}

export const DECISION_TABLE: DecisionRow[] = [
  {
    l: "same",
    r: "same",
    action: "nothing",
    cases: [{ input: { local: local("a"), base: base("a"), remote: remote("a") }, expect: { kind: "none" } }],
  },
  {
    l: "new",
    r: "absent",
    action: "upload, create-only (`If-None-Match: *`)",
    cases: [{ input: { local: local("a") }, expect: { kind: "upload", dropTombstone: false } }],
  },
  {
    l: "new",
    r: "absent, tombstone of the same content",
    action: "delete locally (deleted elsewhere while this machine had no record)",
    cases: [
      { input: { local: local("a"), tombstone }, expect: { kind: "delete-local" } },
      // Other content than the tombstone covers: a file of its own, published.
      { input: { local: local("b"), tombstone }, expect: { kind: "upload", dropTombstone: true } },
    ],
  },
  {
    l: "new",
    r: "absent, tombstone this machine has met",
    action: "upload, drop the tombstone (the file was created here since)",
    cases: [
      {
        input: { local: local("a"), tombstone: { ...tombstone, stale: true } },
        expect: { kind: "upload", dropTombstone: true },
      },
    ],
  },
  {
    l: "changed",
    r: "same",
    action: "upload, `If-Match: <old ETag>`",
    cases: [
      {
        input: { local: local("b"), base: base("a"), remote: remote("a") },
        expect: { kind: "upload", ifMatch: "e1", dropTombstone: false },
      },
    ],
  },
  {
    l: "same",
    r: "changed / new",
    action: "download",
    cases: [
      {
        input: { local: local("a"), base: base("a"), remote: remote("b", "e2") },
        expect: { kind: "download" },
      },
      { input: { remote: remote("a") }, expect: { kind: "download" } },
    ],
  },
  {
    l: "deleted",
    r: "same",
    action: "delete the object, write a tombstone",
    cases: [{ input: { base: base("a"), remote: remote("a") }, expect: { kind: "delete-remote" } }],
  },
  {
    l: "same",
    r: "deleted",
    action: "delete locally (`deletions: keep`: keep it and record that)",
    cases: [
      { input: { local: local("a"), base: base("a") }, expect: { kind: "delete-local" } },
      {
        input: { local: local("a"), base: base("a") },
        policy: { ...keepBoth, deletions: "keep" },
        expect: { kind: "keep-local" },
      },
    ],
  },
  {
    l: "new / changed",
    r: "new / changed, same content and metadata",
    action: "record only",
    cases: [
      {
        input: { local: local("b"), base: base("a"), remote: remote("b", "e2") },
        expect: { kind: "record" },
      },
      { input: { local: local("b"), remote: remote("b", "e2") }, expect: { kind: "record" } },
    ],
  },
  {
    l: "new / changed",
    r: "new / changed, same content, other mode/mtime",
    action: "merge the metadata per field (see below), no copy",
    cases: [
      // Created on both sides: the stricter mode and the newer mtime; published as is when that is local's.
      {
        input: { local: local("a", 3000, { mode: 0o600 }), remote: remote("a", "e2", 2000) },
        expect: { kind: "upload", ifMatch: "e2", dropTombstone: false },
      },
      {
        input: { local: local("a", 1000, { mode: 0o600 }), remote: remote("a", "e2", 2000) },
        expect: { kind: "merge-meta", mode: 0o600, mtimeMs: 2000, ifMatch: "e2" },
      },
      // A chmod 600 on one side, a touch on the other: the chmod survives, and the newer mtime.
      {
        input: { local: local("a", 5000), base: base("a"), remote: remote("a", "e2", 1000, { mode: 0o600 }) },
        expect: { kind: "merge-meta", mode: 0o600, mtimeMs: 5000, ifMatch: "e2" },
      },
      {
        input: { local: local("a", 1000, { mode: 0o600 }), base: base("a"), remote: remote("a", "e2", 5000) },
        expect: { kind: "merge-meta", mode: 0o600, mtimeMs: 5000, ifMatch: "e2" },
      },
      // Both changed the mode: the intersection of the bits.
      {
        input: {
          local: local("a", 1000, { mode: 0o640 }),
          base: base("a"),
          remote: remote("a", "e2", 1000, { mode: 0o604 }),
        },
        expect: { kind: "merge-meta", mode: 0o600, mtimeMs: 1000, ifMatch: "e2" },
      },
    ],
  },
  {
    l: "changed",
    r: "changed, only R's metadata changed",
    action: "upload L's content with the merged mode, no copy",
    cases: [
      {
        input: { local: local("b", 3000), base: base("a"), remote: remote("a", "e2", 1000, { mode: 0o600 }) },
        expect: { kind: "merge-meta", mode: 0o600, mtimeMs: 3000, ifMatch: "e2" },
      },
    ],
  },
  {
    l: "changed",
    r: "changed, only L's metadata changed",
    action: "download R's content with the merged mode, no copy",
    cases: [
      {
        input: { local: local("a", 1000, { mode: 0o600 }), base: base("a"), remote: remote("b", "e2", 3000) },
        expect: { kind: "download", mode: 0o600 },
      },
    ],
  },
  {
    l: "new / changed",
    r: "new / changed, different",
    action: "conflict (the name gets the merged mode)",
    cases: [
      {
        input: { local: local("b", 3000), base: base("a"), remote: remote("c", "e2", 2000) },
        expect: { kind: "conflict", winner: "local", keepLoser: true, mode: 0o644 },
      },
      {
        input: { local: local("b", 1000), base: base("a"), remote: remote("c", "e2", 2000) },
        expect: { kind: "conflict", winner: "remote", keepLoser: true, mode: 0o644 },
      },
      // A tie in mtime keeps the published version.
      {
        input: { local: local("b", 2000), base: base("a"), remote: remote("c", "e2", 2000) },
        expect: { kind: "conflict", winner: "remote", keepLoser: true, mode: 0o644 },
      },
      {
        input: { local: local("b", 3000), remote: remote("c", "e2", 2000) },
        policy: { ...keepBoth, conflicts: "newest-wins" },
        expect: { kind: "conflict", winner: "local", keepLoser: false, mode: 0o644 },
      },
    ],
  },
  {
    l: "changed",
    r: "changed by this machine, before L's edit",
    action: "upload: this machine's own earlier write (whose answer it lost) is no other machine's version",
    cases: [
      {
        input: {
          local: local("b", 3000),
          base: base("a"),
          remote: remote("c", "e2", 2000, { origin: "web1" }),
        },
        policy: { ...keepBoth, machine: "web1" },
        expect: { kind: "upload", ifMatch: "e2", dropTombstone: false },
      },
      // Not newer than that write (a tree restored from an older copy, say): a conflict keeps both.
      {
        input: {
          local: local("b", 1000),
          base: base("a"),
          remote: remote("c", "e2", 2000, { origin: "web1" }),
        },
        policy: { ...keepBoth, machine: "web1" },
        expect: { kind: "conflict", winner: "remote", keepLoser: true, mode: 0o644 },
      },
      {
        input: {
          local: local("b", 3000),
          base: base("a"),
          remote: remote("c", "e2", 2000, { origin: "web2" }),
        },
        policy: { ...keepBoth, machine: "web1" },
        expect: { kind: "conflict", winner: "local", keepLoser: true, mode: 0o644 },
      },
    ],
  },
  {
    l: "deleted",
    r: "changed",
    action: "download: a modification beats a deletion",
    cases: [{ input: { base: base("a"), remote: remote("b", "e2") }, expect: { kind: "download" } }],
  },
  {
    l: "deleted",
    r: "changed by this machine",
    action: "delete remotely: this machine's own earlier write (whose answer it lost) was deleted here since",
    cases: [
      {
        input: { base: base("a"), remote: remote("b", "e2", 1000, { origin: "web1" }) },
        policy: { ...keepBoth, machine: "web1" },
        expect: { kind: "delete-remote" },
      },
    ],
  },
  {
    l: "changed",
    r: "deleted",
    action: "upload again, drop the tombstone",
    cases: [
      {
        input: { local: local("b"), base: base("a"), tombstone },
        expect: { kind: "upload", dropTombstone: true },
      },
    ],
  },
  {
    l: "deleted",
    r: "deleted",
    action: "forget the row",
    cases: [{ input: { base: base("a") }, expect: { kind: "forget" } }],
  },
];

/** The table as docs/design.md holds it (prettier's layout of a markdown table). */
export function renderDecisionTable(): string {
  const rows = [["L", "R", "action"], ...DECISION_TABLE.map((row) => [row.l, row.r, row.action])];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((cells) => cells[column]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  const [header, ...body] = rows;
  return [line(header!), line(widths.map((width) => "-".repeat(width))), ...body.map(line)].join("\n");
}
