/**
 * Scenarios as data: each `test/scenarios/*.yaml` file is a federation and a list of steps (write, delete,
 * rename, chmod on a machine; sync some machines; expect trees and log lines), run by `runScenario` against a
 * real MinIO with one fedsync state dir and tree per machine. Conflict copies are named without their
 * timestamp in expectations: `file.fedsync-conflict-machine-a.txt`.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse } from "yaml";
import * as z from "zod";
import { snapshot, startFederation, writeTree, type Agent, type Federation } from "../helpers/federation.js";

const MACHINE = z.string().regex(/^[a-h]$/, "a machine is a letter a-h");
const MODE = z.string().regex(/^[0-7]{3,4}$/, "an octal mode such as 644");

/** One entry of a tree: file content, a file with mode or mtime, a symlink, or (for a key ending in /) a directory. */
const ENTRY = z.union([
  z.string(),
  z.strictObject({ content: z.string(), mode: MODE.optional(), mtime: z.iso.datetime().optional() }),
  z.strictObject({ link: z.string() }),
  z.strictObject({ dir: z.literal(true), mode: MODE.optional() }),
]);
const TREE = z.record(z.string(), ENTRY);
const ON = z.union([MACHINE, z.array(MACHINE).min(1), z.literal("all")]);

const STEP = z.union([
  z.strictObject({ write: z.strictObject({ on: MACHINE, tree: TREE }) }),
  z.strictObject({ delete: z.strictObject({ on: MACHINE, paths: z.array(z.string()).min(1) }) }),
  z.strictObject({ rename: z.strictObject({ on: MACHINE, from: z.string(), to: z.string() }) }),
  z.strictObject({ chmod: z.strictObject({ on: MACHINE, path: z.string(), mode: MODE }) }),
  z.strictObject({
    sync: z.union([
      z.array(MACHINE).min(1),
      z.strictObject({
        on: z.array(MACHINE).min(1),
        /** Expected exit code of each `fedsync sync` (0 unless given). */
        exit: z.number().int().optional(),
        /** A regular expression each sync's log must match. */
        log: z.string().optional(),
      }),
    ]),
  }),
  z.strictObject({
    expect: z.strictObject({
      on: ON,
      /** The whole tree, exactly: every path not listed must be absent. */
      tree: TREE,
    }),
  }),
]);

export const SCENARIO = z.strictObject({
  about: z.string(),
  machines: z.number().int().min(1).max(8),
  /** The set every machine syncs, with any set options (`name` defaults to web). */
  set: z.record(z.string(), z.unknown()).optional(),
  steps: z.array(STEP).min(1),
});
export type Scenario = z.infer<typeof SCENARIO>;
type Tree = z.infer<typeof TREE>;
type Step = z.infer<typeof STEP>;

export function loadScenario(file: string): Scenario {
  return SCENARIO.parse(parse(readFileSync(file, "utf8")));
}

const CONFLICT_STAMP = /\.fedsync-conflict-\d{8}-\d{6}-/;

/** A machine's tree in the expectations' terms: conflict copies without their timestamp. */
function observed(root: string): Map<string, { text: string; mode: number; mtimeMs?: number }> {
  const found = new Map<string, { text: string; mode: number; mtimeMs?: number }>();
  for (const [rel, entry] of snapshot(root, { mtimes: true })) {
    const text =
      entry.type === "dir"
        ? "dir"
        : entry.type === "symlink"
          ? `link ${entry.target}`
          : `file ${JSON.stringify(readFileSync(join(root, rel), "utf8"))}`;
    found.set(rel.replace(CONFLICT_STAMP, ".fedsync-conflict-"), {
      text,
      mode: entry.mode,
      mtimeMs: entry.mtimeMs,
    });
  }
  return found;
}

/** The expected tree as `observed` describes it, with every parent directory. */
function described(tree: Tree): Map<string, string> {
  const want = new Map<string, string>();
  for (const [rel, entry] of Object.entries(tree)) {
    const parts = rel.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) want.set(parts.slice(0, i).join("/") + "/", "dir");
    if (typeof entry === "string") want.set(rel, `file ${JSON.stringify(entry)}`);
    else if ("link" in entry) want.set(rel, `link ${entry.link}`);
    else if ("dir" in entry) want.set(rel.endsWith("/") ? rel : `${rel}/`, "dir");
    else want.set(rel, `file ${JSON.stringify(entry.content)}`);
  }
  return want;
}

function writeEntries(root: string, tree: Tree) {
  for (const [rel, entry] of Object.entries(tree)) {
    const path = join(root, rel);
    if (typeof entry === "string") writeTree(root, { [rel]: entry });
    else if ("link" in entry) {
      mkdirSync(dirname(path), { recursive: true });
      symlinkSync(entry.link, path);
    } else if ("dir" in entry) {
      mkdirSync(path, { recursive: true });
      if (entry.mode) chmodSync(path, parseInt(entry.mode, 8));
    } else {
      writeTree(root, { [rel]: entry.content });
      if (entry.mode) chmodSync(path, parseInt(entry.mode, 8));
      if (entry.mtime) utimesSync(path, new Date(entry.mtime), new Date(entry.mtime));
    }
  }
}

function machinesOf(on: z.infer<typeof ON>, fed: Federation): Agent[] {
  const names = on === "all" ? fed.agents.map((agent) => agent.name) : typeof on === "string" ? [on] : on;
  return names.map((name) => {
    const agent = fed.agents.find((candidate) => candidate.name === name);
    assert.ok(agent, `the scenario has no machine ${name}`);
    return agent;
  });
}

async function runStep(fed: Federation, step: Step, at: string) {
  const agent = (name: string) => machinesOf(name, fed)[0]!;
  if ("write" in step) writeEntries(agent(step.write.on).root(), step.write.tree);
  else if ("delete" in step) {
    for (const rel of step.delete.paths) rmSync(agent(step.delete.on).path(rel), { recursive: true });
  } else if ("rename" in step) {
    const { on, from, to } = step.rename;
    mkdirSync(dirname(agent(on).path(to)), { recursive: true });
    renameSync(agent(on).path(from), agent(on).path(to));
  } else if ("chmod" in step) {
    chmodSync(agent(step.chmod.on).path(step.chmod.path), parseInt(step.chmod.mode, 8));
  } else if ("sync" in step) {
    const { on, exit = 0, log } = Array.isArray(step.sync) ? { on: step.sync } : step.sync;
    for (const name of on) {
      const result = await fed.sync(agent(name), [], exit);
      if (log) assert.match(result.stderr, new RegExp(log), `${at}: the log of sync on ${name}`);
    }
  } else {
    const want = described(step.expect.tree);
    for (const machine of machinesOf(step.expect.on, fed)) {
      const got = observed(machine.root());
      const texts = new Map([...got].map(([rel, entry]) => [rel, entry.text]));
      assert.deepEqual(
        Object.fromEntries(texts),
        Object.fromEntries(want),
        `${at}: the tree on ${machine.name}`,
      );
      for (const [rel, entry] of Object.entries(step.expect.tree)) {
        if (typeof entry !== "object" || "link" in entry) continue;
        const key: string = "dir" in entry && !rel.endsWith("/") ? `${rel}/` : rel;
        if (entry.mode)
          assert.equal(
            got.get(key)?.mode,
            parseInt(entry.mode, 8),
            `${at}: mode of ${rel} on ${machine.name}`,
          );
        if ("mtime" in entry && entry.mtime) {
          assert.equal(
            got.get(key)?.mtimeMs,
            Date.parse(entry.mtime),
            `${at}: mtime of ${rel} on ${machine.name}`,
          );
        }
      }
    }
  }
}

/** Runs a scenario on a new federation of its own. */
export async function runScenario(name: string, scenario: Scenario): Promise<void> {
  const set = { name: "web", ...scenario.set } as { name: string; [key: string]: unknown };
  const fed = await startFederation(scenario.machines, [set]);
  try {
    for (const [i, step] of scenario.steps.entries()) {
      await runStep(fed, step, `${name}, step ${i + 1} (${Object.keys(step)[0]})`);
    }
  } finally {
    await fed.close();
  }
}
