import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { changedAnything, passSummary, tempFilesUnder, treeDifferences } from "../helpers/checks.js";
import { snapshot, startFederation, type Agent, type Federation } from "../helpers/federation.js";
import { createRandom, testSeed, type Random } from "../helpers/random.js";

const ROUNDS = 12;
const INITIAL_FILES = 40;
/** Deletions and renames per round stay at this, far below the deletion guard (10, or 50% of the set). */
const MAX_REMOVALS_PER_ROUND = 2;
/** Every agent runs a pass at least once in this many rounds, so no agent piles up deletions to apply. */
const MAX_IDLE_ROUNDS = 2;
const FINAL_ROUNDS = 3;

type OpKind =
  "create" | "modify" | "delete" | "rename" | "chmod" | "touch" | "symlink" | "mkdir" | "conflict";
const OPS: readonly OpKind[] = [
  "create",
  "create",
  "modify",
  "modify",
  "delete",
  "rename",
  "chmod",
  "touch",
  "symlink",
  "mkdir",
  "conflict",
];
/** Kinds that act on no existing file. */
const FRESH: readonly OpKind[] = ["create", "mkdir", "symlink"];

/** What the test knows about every content it wrote: gone on purpose (deleted or overwritten), or not. */
class Contents {
  private readonly written = new Map<string, "live" | "deleted" | "overwritten">();

  write(content: string): string {
    this.written.set(content, "live");
    return content;
  }

  /** Marks what a user op removed; contents the test never wrote (none expected) are ignored. */
  end(content: string, how: "deleted" | "overwritten"): void {
    if (this.written.has(content)) this.written.set(content, how);
  }

  known(content: string): boolean {
    return this.written.has(content);
  }

  live(): string[] {
    return [...this.written].filter(([, state]) => state === "live").map(([content]) => content);
  }

  count(state: "live" | "deleted" | "overwritten"): number {
    return [...this.written.values()].filter((s) => s === state).length;
  }
}

/** Relative paths of the regular files in an agent's tree, sorted. */
function filesOf(agent: Agent): string[] {
  const found: string[] = [];
  const walk = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name), `${prefix}${entry.name}/`);
      else if (entry.isFile()) found.push(prefix + entry.name);
    }
  };
  walk(agent.root(), "");
  return found.sort();
}

function write(agent: Agent, rel: string, content: string): void {
  mkdirSync(dirname(agent.path(rel)), { recursive: true });
  writeFileSync(agent.path(rel), content);
}

class Model {
  readonly contents = new Contents();
  readonly log: string[] = [];
  private removals = 0;

  constructor(
    private readonly random: Random,
    private readonly agents: Agent[],
  ) {}

  private content(round: number, op: number, agent: Agent, part = 0): string {
    return this.contents.write(`${this.random.seed}-${round}-${op}-${agent.name}${part ? `-${part}` : ""}`);
  }

  private note(round: number, op: number, agent: Agent, text: string) {
    this.log.push(`r${round} op${op} ${agent.name}: ${text}`);
  }

  /** Overwrites (or creates) `rel` on `agent`, recording that the content it held is overwritten. */
  private overwrite(agent: Agent, rel: string, content: string) {
    if (existsSync(agent.path(rel))) this.contents.end(readFileSync(agent.path(rel), "utf8"), "overwritten");
    write(agent, rel, content);
  }

  /** A random existing file on `agent`, if it has any. */
  private existing(agent: Agent): string | undefined {
    const files = filesOf(agent);
    return files.length > 0 ? this.random.pick(files) : undefined;
  }

  round(round: number): void {
    this.removals = 0;
    const ops = this.random.int(3, 6);
    for (let op = 0; op < ops; op++) this.apply(round, op);
  }

  private apply(round: number, op: number): void {
    const agent = this.random.pick(this.agents);
    let kind = this.random.pick(OPS);
    if ((kind === "delete" || kind === "rename") && this.removals >= MAX_REMOVALS_PER_ROUND) kind = "create";
    const target = FRESH.includes(kind) ? undefined : this.existing(agent);
    if (!FRESH.includes(kind) && kind !== "conflict" && target === undefined) kind = "create";
    switch (kind) {
      case "create": {
        const dir = this.random.chance(0.5)
          ? this.random.pick(["base/d0", "base/d1", "base/d2", "top"])
          : "new";
        const rel = `${dir}/c-${round}-${op}.txt`;
        this.overwrite(agent, rel, this.content(round, op, agent));
        this.note(round, op, agent, `create ${rel}`);
        return;
      }
      case "modify": {
        this.overwrite(agent, target!, this.content(round, op, agent));
        this.note(round, op, agent, `modify ${target}`);
        return;
      }
      case "delete": {
        this.contents.end(readFileSync(agent.path(target!), "utf8"), "deleted");
        rmSync(agent.path(target!));
        this.removals++;
        this.note(round, op, agent, `delete ${target}`);
        return;
      }
      case "rename": {
        const to = this.random.chance(0.5)
          ? `moved-${round}/r-${op}.txt`
          : `${dirname(target!)}/renamed-${round}-${op}.txt`;
        mkdirSync(dirname(agent.path(to)), { recursive: true });
        renameSync(agent.path(target!), agent.path(to));
        this.removals++;
        this.note(round, op, agent, `rename ${target} -> ${to}`);
        return;
      }
      case "chmod": {
        const mode = lstatSync(agent.path(target!)).mode & 0o777;
        const next = mode === 0o644 ? this.random.pick([0o600, 0o640]) : 0o644;
        chmodSync(agent.path(target!), next);
        this.note(round, op, agent, `chmod ${target} ${next.toString(8)}`);
        return;
      }
      case "touch": {
        const at = new Date(Date.now() - this.random.int(1, 1000) * 60_000);
        utimesSync(agent.path(target!), at, at);
        this.note(round, op, agent, `touch ${target} ${at.toISOString()}`);
        return;
      }
      case "symlink": {
        const links = existsSync(agent.path("links")) ? readdirSync(agent.path("links")) : [];
        const existing = links.length > 0 && this.random.chance(0.6) ? this.random.pick(links) : undefined;
        if (existing && this.removals < MAX_REMOVALS_PER_ROUND && this.random.chance(0.4)) {
          rmSync(agent.path(`links/${existing}`));
          this.removals++;
          this.note(round, op, agent, `remove symlink links/${existing}`);
          return;
        }
        const name = existing ?? `l-${round}-${op}`;
        const to = `../base/d${this.random.int(0, 3)}/file-${this.random.int(0, INITIAL_FILES - 1)}.txt`;
        mkdirSync(agent.path("links"), { recursive: true });
        rmSync(agent.path(`links/${name}`), { force: true });
        symlinkSync(to, agent.path(`links/${name}`));
        this.note(round, op, agent, `symlink links/${name} -> ${to}`);
        return;
      }
      case "mkdir": {
        const dir = `dir-${round}-${op}`;
        const count = this.random.int(2, 4);
        for (let part = 1; part <= count; part++) {
          this.overwrite(agent, `${dir}/f${part}.txt`, this.content(round, op, agent, part));
        }
        this.note(round, op, agent, `mkdir ${dir} with ${count} files`);
        return;
      }
      case "conflict": {
        const other = this.random.pick(this.agents.filter((a) => a !== agent));
        const shared =
          target !== undefined && existsSync(other.path(target)) && lstatSync(other.path(target)).isFile();
        const rel = shared ? target : `clash/both-${round}-${op}.txt`;
        this.overwrite(agent, rel, this.content(round, op, agent));
        this.overwrite(other, rel, this.content(round, op, other));
        this.note(round, op, agent, `conflicting edits of ${rel} with ${other.name}`);
        return;
      }
    }
  }
}

describe("randomized model: three machines, random edits, random pass order", () => {
  let fed: Federation;
  const seed = testSeed();
  const random = createRandom(seed);

  before(async () => {
    console.log(`model test seed ${seed} (replay with FEDSYNC_TEST_SEED=${seed})`);
    fed = await startFederation(3);
  });
  after(async () => {
    await fed?.close();
  });

  test("every tree converges and no content written last and not deleted is lost", async () => {
    const agents = fed.agents;
    const model = new Model(random, agents);
    const first = agents[0]!;
    for (let i = 0; i < INITIAL_FILES; i++) {
      write(first, `base/d${i % 4}/file-${i}.txt`, model.contents.write(`${seed}-init-${i}`));
    }
    for (const agent of agents) await fed.sync(agent);

    const lastPass = new Map(agents.map((agent) => [agent, 0]));
    const passes: string[] = [];
    const sync = async (agent: Agent) => {
      const result = await fed.sync(agent).catch((error: Error) => {
        throw new Error(`${error.message}\nops so far:\n${model.log.join("\n")}`);
      });
      passes.push(agent.name);
      return passSummary(result.stderr);
    };
    for (let round = 1; round <= ROUNDS; round++) {
      model.round(round);
      const chosen = agents.filter(
        (agent) => random.chance(0.5) || round - lastPass.get(agent)! >= MAX_IDLE_ROUNDS,
      );
      for (const agent of random.shuffle(chosen)) {
        await sync(agent);
        lastPass.set(agent, round);
      }
      passes.push("|");
    }

    let quiet = false;
    for (let round = 0; round < FINAL_ROUNDS && !quiet; round++) {
      quiet = true;
      for (const agent of agents) if (changedAnything(await sync(agent))) quiet = false;
    }
    const context = `seed ${seed}; passes ${passes.join(" ")}\nops:\n${model.log.join("\n")}`;
    console.log(
      `${model.log.length} ops; contents live ${model.contents.count("live")}, deleted ${model.contents.count("deleted")}, overwritten ${model.contents.count("overwritten")}`,
    );
    assert.ok(quiet, `no quiet round within ${FINAL_ROUNDS} final rounds; ${context}`);

    const [treeA, ...others] = agents.map((agent) => snapshot(agent.root(), { mtimes: true }));
    for (const [i, tree] of others.entries()) {
      const name = agents[i + 1]!.name;
      const differences = treeDifferences(treeA!, tree, ["a", name]);
      assert.deepEqual(differences, [], `${name} differs from a; ${context}`);
    }
    for (const agent of agents) assert.deepEqual(tempFilesUnder(agent.root()), []);

    const present = new Map<string, string[]>();
    for (const rel of filesOf(first)) {
      const content = readFileSync(first.path(rel), "utf8");
      assert.ok(model.contents.known(content), `${rel} holds content the test never wrote: ${content}`);
      present.set(content, [...(present.get(content) ?? []), rel]);
    }
    const lost = model.contents.live().filter((content) => !present.has(content));
    assert.deepEqual(lost, [], `contents lost; ${context}`);
  });
});
