import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { conflictCopyKeys } from "../../src/reconcile/conflict-name.js";
import { plan, tombstoneHash, type PlanPolicy } from "../../src/reconcile/planner.js";
import type { BaseState, LocalState, RemoteState, TombstoneState } from "../../src/reconcile/state.js";
import { validateEntryKey } from "../../src/scan/keys.js";

/**
 * The planner against an in-memory model of one machine and the bucket (the Dropbox "Nucleus" approach):
 * start from an agreed tree, perturb the local and the remote copy independently, let the planner propose
 * actions and apply them in shuffled order until it proposes nothing; then perturb again (a user putting back
 * a file whose deletion was applied, say) and settle again. Each settling must terminate and converge, keep
 * every version written meanwhile (as the file or a conflict copy), loosen no permission that a side made
 * stricter, and name nothing outside the tree.
 *
 * Runs per policy: FEDSYNC_PROPERTY_RUNS (default 100,000).
 */

const RUNS = Number(process.env.FEDSYNC_PROPERTY_RUNS ?? 100_000);
const MASK = 0o1775;

interface Version {
  content: string;
  mtimeMs: number;
  mode: number;
}
type Stored = Version & { etag: string };
interface Model {
  local: Map<string, Version>;
  remote: Map<string, Stored>;
  base: Map<string, Version & { etag: string | null }>;
  /** `passed`: a settle (a full pass) began after it was written. */
  tombstones: Map<string, TombstoneState & { by: "here" | "elsewhere"; passed?: boolean }>;
  applied: Set<string>;
  etags: number;
  clock: number;
}

type Op = {
  side: "local" | "remote";
  key: string;
  kind: "write" | "delete" | "chmod" | "restore";
  content: string;
  mtimeMs: number;
  mode: number;
};

const LONG_NAME = `${"n".repeat(240)}.txt`;
const keys = ["a", "b", "d/e", "d/f", LONG_NAME];
const contents = ["x", "y", "z"];
const modes = [0o644, 0o600, 0o640, 0o664, 0o666, 0o755];

const opArb: fc.Arbitrary<Op> = fc.record({
  side: fc.constantFrom("local" as const, "remote" as const),
  key: fc.constantFrom(...keys),
  kind: fc.constantFrom("write" as const, "delete" as const, "chmod" as const, "restore" as const),
  content: fc.constantFrom(...contents),
  mtimeMs: fc.integer({ min: 1, max: 50 }),
  mode: fc.constantFrom(...modes),
});

function agreedModel(initial: [string, string][]): Model {
  const model: Model = {
    local: new Map(),
    remote: new Map(),
    base: new Map(),
    tombstones: new Map(),
    applied: new Set(),
    etags: 0,
    clock: 100,
  };
  for (const [key, content] of initial) {
    const version = { content, mtimeMs: 0, mode: 0o644 };
    const etag = `e${++model.etags}`;
    model.local.set(key, version);
    model.remote.set(key, { ...version, etag });
    model.base.set(key, { ...version, etag });
  }
  return model;
}

const localState = (v: Version): LocalState => ({
  type: "file",
  size: 1,
  mtimeMs: v.mtimeMs,
  mode: v.mode,
  owner: "u",
  group: "g",
  sha256: v.content,
});
const baseState = (v: Version & { etag: string | null }): BaseState => ({
  type: "file",
  mtimeMs: v.mtimeMs,
  mode: v.mode,
  owner: "u",
  group: "g",
  sha256: v.content,
  target: null,
  remoteEtag: v.etag,
});
const remoteState = (v: Stored): RemoteState => ({
  type: "file",
  etag: v.etag,
  size: 1,
  lastModified: v.mtimeMs,
  sha256: v.content,
  mtimeMs: v.mtimeMs,
  mode: v.mode,
});

function putRemote(model: Model, key: string, v: Version, ifMatch?: string): string {
  const current = model.remote.get(key);
  if (ifMatch !== undefined && current?.etag !== ifMatch) throw new Error(`If-Match would fail on ${key}`);
  if (ifMatch === undefined && current) throw new Error(`If-None-Match would fail on ${key}`);
  const etag = `e${++model.etags}`;
  model.remote.set(key, { ...v, etag });
  return etag;
}

/** What the pass hands the planner for a tombstone: its own are ignored, met ones are stale (see pass.ts). */
function tombstoneFor(model: Model, key: string): TombstoneState | undefined {
  const tombstone = model.tombstones.get(key);
  if (!tombstone) return undefined;
  const createdHere = model.local.has(key) && !model.base.has(key);
  if (tombstone.by === "here" && model.local.has(key)) return undefined;
  return { ...tombstone, stale: createdHere && (model.applied.has(key) || tombstone.passed === true) };
}

function publishLocal(model: Model, key: string, ifMatch?: string) {
  const version = model.local.get(key)!;
  model.base.set(key, { ...version, etag: putRemote(model, key, version, ifMatch) });
}

function step(model: Model, key: string, policy: PlanPolicy, created: string[]): boolean {
  const l = model.local.get(key);
  const b = model.base.get(key);
  const r = model.remote.get(key);
  const action = plan(
    {
      key,
      local: l && localState(l),
      base: b && baseState(b),
      remote: r && remoteState(r),
      tombstone: tombstoneFor(model, key),
    },
    policy,
  );
  switch (action.kind) {
    case "none":
      return false;
    case "record":
      model.base.set(key, { ...l!, etag: r!.etag });
      return true;
    case "upload":
      publishLocal(model, key, action.ifMatch);
      if (action.dropTombstone) model.tombstones.delete(key);
      return true;
    case "download": {
      const mode = action.mode ?? r!.mode & MASK;
      model.local.set(key, { content: r!.content, mtimeMs: r!.mtimeMs, mode });
      model.base.set(key, { ...model.local.get(key)!, etag: r!.etag });
      if (mode !== (r!.mode & MASK)) publishLocal(model, key, r!.etag);
      return true;
    }
    case "merge-meta":
      model.local.set(key, { ...l!, mode: action.mode, mtimeMs: action.mtimeMs });
      publishLocal(model, key, action.ifMatch);
      return true;
    case "delete-remote":
      model.remote.delete(key);
      model.tombstones.set(key, {
        type: "file",
        deletedAt: ++model.clock,
        sha256: tombstoneHash({ type: "file", sha256: b!.content }),
        by: "here",
      });
      model.base.delete(key);
      return true;
    case "delete-local":
      model.local.delete(key);
      model.base.delete(key);
      model.applied.add(key);
      return true;
    case "keep-local":
      model.base.set(key, { ...l!, etag: null });
      return true;
    case "forget":
      model.base.delete(key);
      if (model.tombstones.has(key)) model.applied.add(key);
      return true;
    case "conflict": {
      const candidates = conflictCopyKeys(
        key,
        action.winner === "local" ? "remote1" : "local1",
        ++model.clock,
      );
      const copyKey = candidates.find((k) => !model.local.has(k) && !model.remote.has(k))!;
      created.push(copyKey);
      const remoteVersion = { content: r!.content, mtimeMs: r!.mtimeMs, mode: r!.mode & MASK };
      const loser = action.winner === "local" ? remoteVersion : l!;
      if (action.keepLoser) {
        model.local.set(copyKey, loser);
        publishLocal(model, copyKey);
      }
      if (action.winner === "local") {
        model.local.set(key, { ...l!, mode: action.mode });
        publishLocal(model, key, r!.etag);
      } else {
        model.local.set(key, { ...remoteVersion, mode: action.mode });
        model.base.set(key, { ...model.local.get(key)!, etag: r!.etag });
        if (action.mode !== remoteVersion.mode) publishLocal(model, key, r!.etag);
      }
      return true;
    }
  }
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function settle(model: Model, policy: PlanPolicy, seed: number, created: string[]): void {
  const before = new Set(model.tombstones.values());
  for (let round = 1; round <= 6; round++) {
    const all = new Set([
      ...model.local.keys(),
      ...model.remote.keys(),
      ...model.base.keys(),
      ...model.tombstones.keys(),
    ]);
    let changed = false;
    for (const key of shuffle([...all].sort(), seed + round)) {
      changed = step(model, key, policy, created) || changed;
    }
    if (!changed) {
      for (const tombstone of model.tombstones.values()) if (before.has(tombstone)) tombstone.passed = true;
      return;
    }
  }
  throw new Error("the planner did not settle within 6 rounds");
}

interface Written {
  contents: Set<string>;
  /** Per key, the last mode each side set with a chmod, while the side still holds the file. */
  stricter: Map<string, number[]>;
}

/**
 * Applies `ops`. A restore puts back the content a deletion of an earlier round removed (in the first round a
 * write of content that was just deleted elsewhere is what a tombstone rightly deletes, so it is skipped).
 */
function perturb(model: Model, ops: Op[], deleted: Map<string, string>): Written {
  const deletedBefore = new Map(deleted);
  const deletedNow = new Set<string>();
  const contentBefore = new Map<string, string>([
    ...[...model.local].map(([key, v]) => [`local:${key}`, v.content] as const),
    ...[...model.remote].map(([key, v]) => [`remote:${key}`, v.content] as const),
  ]);
  const written = new Map<string, string>();
  const chmods = new Map<string, number>();
  const modeBefore = (side: "local" | "remote", key: string) =>
    (side === "local" ? model.local : model.remote).get(key)?.mode;
  const startModes = new Map(
    keys.flatMap((key) =>
      (["local", "remote"] as const).map((side) => [`${side}:${key}`, modeBefore(side, key)]),
    ),
  );
  for (const op of ops) {
    const id = `${op.side}:${op.key}`;
    const map = op.side === "local" ? model.local : model.remote;
    const current = map.get(op.key);
    if (op.kind === "delete") {
      if (current) deleted.set(op.key, current.content);
      if (current) deletedNow.add(`${op.key}=${current.content}`);
      if (op.side === "local") model.local.delete(op.key);
      else if (model.remote.delete(op.key)) {
        model.tombstones.set(op.key, {
          type: "file",
          deletedAt: ++model.clock,
          sha256: current && tombstoneHash({ type: "file", sha256: current.content }),
          by: "elsewhere",
        });
      }
      written.delete(id);
      chmods.delete(id);
      continue;
    }
    if (op.kind === "chmod") {
      if (!current) continue;
      const version = { ...current, mode: op.mode };
      if (op.side === "local") model.local.set(op.key, version);
      else putRemote(model, op.key, version, model.remote.get(op.key)!.etag);
      if (startModes.get(id) !== undefined && (startModes.get(id)! & MASK) !== (op.mode & MASK)) {
        chmods.set(id, op.mode & MASK);
      } else chmods.delete(id);
      continue;
    }
    const content =
      op.kind === "restore"
        ? deletedBefore.get(op.key)
        : `${op.content}@${op.side}${op.mtimeMs}.${model.clock++}`;
    if (content === undefined) continue;
    const version = { content, mtimeMs: op.mtimeMs, mode: current?.mode ?? 0o644 };
    if (op.side === "local") model.local.set(op.key, version);
    else putRemote(model, op.key, version, model.remote.get(op.key)?.etag);
    // Bytes the file had when the round began (a touch, in the end) are no new version.
    if (content === contentBefore.get(id)) written.delete(id);
    else written.set(id, content);
  }
  const stricter = new Map<string, number[]>();
  for (const [id, mode] of chmods) {
    const key = id.slice(id.indexOf(":") + 1);
    stricter.set(key, [...(stricter.get(key) ?? []), mode]);
  }
  // The same bytes written on one side and deleted on the other in one round: the deletion may win.
  const contents = [...written].filter(
    ([id, content]) => !deletedNow.has(`${id.slice(id.indexOf(":") + 1)}=${content}`),
  );
  return { contents: new Set(contents.map(([, content]) => content)), stricter };
}

function check(model: Model, written: Written, policy: PlanPolicy, created: string[]) {
  const view = (map: Map<string, Version>) =>
    [...map].map(([k, v]) => `${k}=${v.content}:${(v.mode & MASK).toString(8)}`).sort();
  assert.deepEqual(view(model.local), view(model.remote), "local and remote differ after settling");
  if (policy.conflicts === "keep-both") {
    const survivors = new Set([...model.local.values()].map((v) => v.content));
    for (const content of written.contents) assert.ok(survivors.has(content), `version ${content} was lost`);
  }
  for (const [key, stricterModes] of written.stricter) {
    const final = model.local.get(key);
    if (!final) continue;
    for (const mode of stricterModes) {
      assert.equal(
        final.mode & MASK & ~mode,
        0,
        `${key}: mode ${final.mode.toString(8)} looser than ${mode.toString(8)}`,
      );
    }
  }
  for (const key of created)
    assert.equal(validateEntryKey(key), null, `${key} is not a valid path in the tree`);
}

const scenario = fc.record({
  initial: fc.uniqueArray(fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...contents)), {
    selector: (t) => t[0],
  }),
  first: fc.array(opArb, { maxLength: 10 }),
  second: fc.array(opArb, { maxLength: 6 }),
  seed: fc.nat(),
});

for (const conflicts of ["keep-both", "newest-wins"] as const) {
  test(`planner settles any two rounds of perturbations (${conflicts}, ${RUNS} cases)`, () => {
    const policy: PlanPolicy = { conflicts, deletions: "propagate", modeMask: MASK };
    fc.assert(
      fc.property(scenario, ({ initial, first, second, seed }) => {
        const model = agreedModel(initial);
        const deleted = new Map<string, string>();
        const created: string[] = [];
        const writtenFirst = perturb(model, first, deleted);
        settle(model, policy, seed, created);
        check(model, writtenFirst, policy, created);
        const writtenSecond = perturb(model, second, deleted);
        settle(model, policy, seed + 7, created);
        check(model, writtenSecond, policy, created);
      }),
      { numRuns: RUNS },
    );
  });
}

test("a file put back after its deletion was applied here is published, not deleted again", () => {
  const policy: PlanPolicy = { conflicts: "keep-both", deletions: "propagate", modeMask: MASK };
  const model = agreedModel([["report", "x"]]);
  const deleted = new Map<string, string>();
  perturb(
    model,
    [{ side: "remote", key: "report", kind: "delete", content: "", mtimeMs: 1, mode: 0 }],
    deleted,
  );
  settle(model, policy, 1, []);
  assert.equal(model.local.has("report"), false);
  perturb(
    model,
    [{ side: "local", key: "report", kind: "restore", content: "", mtimeMs: 2, mode: 0 }],
    deleted,
  );
  settle(model, policy, 2, []);
  assert.equal(model.local.get("report")?.content, "x");
  assert.equal(model.remote.get("report")?.content, "x");
  assert.equal(model.tombstones.has("report"), false, "the stale tombstone is dropped");
});
