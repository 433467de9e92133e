import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { plan, tombstoneHash, type PlanPolicy } from "../../src/reconcile/planner.js";
import type { BaseState, LocalState, RemoteState, TombstoneState } from "../../src/reconcile/state.js";

/**
 * The planner against an in-memory model of one machine and the bucket (the Dropbox "Nucleus" approach):
 * start from an agreed tree, perturb the local and the remote copy independently, then let the planner
 * propose actions and apply them in shuffled order until it proposes nothing. The run must terminate,
 * converge, and keep every version written during the perturbation (as the file or a conflict copy).
 */

interface Version {
  content: string;
  mtimeMs: number;
}
interface Model {
  local: Map<string, Version>;
  remote: Map<string, Version & { etag: string }>;
  base: Map<string, Version & { etag: string | null }>;
  tombstones: Map<string, TombstoneState>;
  etags: number;
  copies: number;
}

type Op = {
  side: "local" | "remote";
  key: string;
  kind: "write" | "delete";
  content: string;
  mtimeMs: number;
};

const keys = ["a", "b", "c", "d/e", "d/f"];
const contents = ["x", "y", "z", "w"];

const opArb: fc.Arbitrary<Op> = fc.record({
  side: fc.constantFrom("local" as const, "remote" as const),
  key: fc.constantFrom(...keys),
  kind: fc.constantFrom("write" as const, "delete" as const),
  content: fc.constantFrom(...contents),
  mtimeMs: fc.integer({ min: 1, max: 50 }),
});

function agreedModel(initial: [string, string][]): Model {
  const model: Model = {
    local: new Map(),
    remote: new Map(),
    base: new Map(),
    tombstones: new Map(),
    etags: 0,
    copies: 0,
  };
  for (const [key, content] of initial) {
    const etag = `e${++model.etags}`;
    model.local.set(key, { content, mtimeMs: 0 });
    model.remote.set(key, { content, mtimeMs: 0, etag });
    model.base.set(key, { content, mtimeMs: 0, etag });
  }
  return model;
}

function localState(v: Version): LocalState {
  return {
    type: "file",
    size: 1,
    mtimeMs: v.mtimeMs,
    mode: 0o644,
    owner: "u",
    group: "g",
    sha256: v.content,
  };
}
function baseState(v: Version & { etag: string | null }): BaseState {
  return {
    type: "file",
    mtimeMs: v.mtimeMs,
    mode: 0o644,
    owner: "u",
    group: "g",
    sha256: v.content,
    target: null,
    remoteEtag: v.etag,
  };
}
function remoteState(v: Version & { etag: string }): RemoteState {
  return {
    type: "file",
    etag: v.etag,
    size: 1,
    lastModified: v.mtimeMs,
    sha256: v.content,
    mtimeMs: v.mtimeMs,
    mode: 0o644,
  };
}

function putRemote(model: Model, key: string, v: Version): string {
  const etag = `e${++model.etags}`;
  model.remote.set(key, { ...v, etag });
  return etag;
}

function step(model: Model, key: string, policy: PlanPolicy): boolean {
  const l = model.local.get(key);
  const b = model.base.get(key);
  const r = model.remote.get(key);
  const action = plan(
    {
      key,
      local: l && localState(l),
      base: b && baseState(b),
      remote: r && remoteState(r),
      tombstone: model.tombstones.get(key),
    },
    policy,
  );
  switch (action.kind) {
    case "none":
      return false;
    case "record":
      model.base.set(key, { ...l!, etag: r!.etag });
      return true;
    case "upload": {
      if (action.ifMatch !== undefined && r?.etag !== action.ifMatch) throw new Error("If-Match would fail");
      if (action.ifMatch === undefined && r) throw new Error("If-None-Match would fail");
      model.base.set(key, { ...l!, etag: putRemote(model, key, l!) });
      if (action.dropTombstone) model.tombstones.delete(key);
      return true;
    }
    case "download":
      model.local.set(key, { content: r!.content, mtimeMs: r!.mtimeMs });
      model.base.set(key, { ...r! });
      return true;
    case "delete-remote":
      model.remote.delete(key);
      model.tombstones.set(key, {
        type: "file",
        deletedAt: 1,
        sha256: tombstoneHash({ type: "file", sha256: b!.content }),
      });
      model.base.delete(key);
      return true;
    case "delete-local":
      model.local.delete(key);
      model.base.delete(key);
      return true;
    case "keep-local":
      model.base.set(key, { ...l!, etag: null });
      return true;
    case "forget":
      model.base.delete(key);
      return true;
    case "conflict": {
      const copyKey = `${key}.conflict-${++model.copies}`;
      const loser = action.winner === "local" ? { content: r!.content, mtimeMs: r!.mtimeMs } : l!;
      const winner = action.winner === "local" ? l! : { content: r!.content, mtimeMs: r!.mtimeMs };
      if (action.keepLoser) {
        model.local.set(copyKey, loser);
        model.base.set(copyKey, { ...loser, etag: putRemote(model, copyKey, loser) });
      }
      model.local.set(key, winner);
      model.base.set(key, {
        ...winner,
        etag: action.winner === "local" ? putRemote(model, key, winner) : r!.etag,
      });
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

function runToQuiescence(model: Model, policy: PlanPolicy, seed: number): number {
  for (let round = 1; round <= 5; round++) {
    const all = new Set([
      ...model.local.keys(),
      ...model.remote.keys(),
      ...model.base.keys(),
      ...model.tombstones.keys(),
    ]);
    let changed = false;
    for (const key of shuffle([...all].sort(), seed + round)) changed = step(model, key, policy) || changed;
    if (!changed) return round;
  }
  throw new Error("the planner did not settle within 5 rounds");
}

const scenario = fc.record({
  initial: fc.uniqueArray(fc.tuple(fc.constantFrom(...keys), fc.constantFrom(...contents)), {
    selector: (t) => t[0],
  }),
  ops: fc.array(opArb, { maxLength: 12 }),
  seed: fc.nat(),
});

function perturb(model: Model, ops: Op[]): Set<string> {
  const written = new Map<string, string>();
  for (const op of ops) {
    const side = op.side;
    if (op.kind === "delete") {
      if (side === "local") model.local.delete(op.key);
      else if (model.remote.delete(op.key)) {
        model.tombstones.set(op.key, { type: "file", deletedAt: 1, sha256: undefined });
      }
      written.delete(`${side}:${op.key}`);
    } else {
      const version = { content: `${op.content}@${op.side}${op.mtimeMs}`, mtimeMs: op.mtimeMs };
      if (side === "local") model.local.set(op.key, version);
      else putRemote(model, op.key, version);
      written.set(`${side}:${op.key}`, version.content);
    }
  }
  return new Set(written.values());
}

for (const conflicts of ["keep-both", "newest-wins"] as const) {
  test(`planner converges from any pair of perturbations (${conflicts})`, () => {
    const policy: PlanPolicy = { conflicts, deletions: "propagate" };
    fc.assert(
      fc.property(scenario, ({ initial, ops, seed }) => {
        const model = agreedModel(initial);
        const written = perturb(model, ops);
        runToQuiescence(model, policy, seed);
        const localView = [...model.local].map(([k, v]) => [k, v.content]).sort();
        const remoteView = [...model.remote].map(([k, v]) => [k, v.content]).sort();
        assert.deepEqual(localView, remoteView, "local and remote differ after quiescence");
        if (conflicts === "keep-both") {
          const survivors = new Set(localView.map(([, c]) => c));
          for (const content of written) assert.ok(survivors.has(content), `version ${content} was lost`);
        }
      }),
      { numRuns: 500 },
    );
  });
}
