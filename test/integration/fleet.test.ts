import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AgentProcess, waitUntil } from "../helpers/agent-process.js";
import { snapshot, startFederation, type Agent, type Federation } from "../helpers/federation.js";
import {
  inOwnNetworkNamespace,
  startMinioCluster,
  testInOwnNetworkNamespace,
  type MinioCluster,
} from "../helpers/minio-cluster.js";
import { createRandom, testSeed } from "../helpers/random.js";

const AGENTS = 12;
/** How long the agents are written to; `FEDSYNC_FLEET_SECONDS` runs it longer. */
const WORKLOAD_MS = Number(process.env.FEDSYNC_FLEET_SECONDS ?? 60) * 1000;
const CONVERGENCE_MS = 300_000;
const SETS = ["web", "conf"] as const;
const SHARED_FILES = 4;
const OWN_FILES = 6;
/**
 * This node is killed a third of the way through the workload and started again at two thirds
 * (`FEDSYNC_FLEET_NODE_FAILURE=0` keeps every node up).
 */
const FAILING_NODE = process.env.FEDSYNC_FLEET_NODE_FAILURE === "0" ? undefined : 3;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const isConflictCopy = (key: string) => key.includes(".fedsync-conflict-");

/** Every write the workload made, to check the converged trees against. */
class WriteLog {
  /** Contents ever written, by hash. */
  readonly written = new Set<string>();
  /** Contents a later write replaced on the machine that wrote it (read just before writing over it). */
  readonly superseded = new Set<string>();
  /** The last thing each machine did to each of its own files: its content, or null once deleted. */
  readonly ownLast = new Map<string, string | null>();
  /** The contents written to each shared file. */
  readonly shared = new Map<string, Set<string>>();
  /** One line per change, for a failure to be looked into. */
  readonly lines: string[] = [];
  ops = 0;
}

if (!inOwnNetworkNamespace()) {
  testInOwnNetworkNamespace(
    "a fleet of 12 agents on a four-node distributed MinIO (run in a network namespace of its own)",
    import.meta.url,
    1_500_000,
  );
} else {
  describe(`a fleet of ${AGENTS} agents on a four-node distributed MinIO${FAILING_NODE === undefined ? "" : ", one node killed and restarted"}`, () => {
    let cluster: MinioCluster;
    let fed: Federation;
    let processes: AgentProcess[] = [];
    const random = createRandom(testSeed());
    const log = new WriteLog();

    before(async () => {
      cluster = await startMinioCluster(4);
      fed = await startFederation(
        AGENTS,
        [
          { name: "web", method: "heavyweight", interval: "5s" },
          // The safety pass every minute rather than every ten: the repair the design relies on for what
          // events cannot carry (a cluster healing after a node failure) happens within the quiet time.
          { name: "conf", method: "lightweight", safety_interval: "60s" },
        ],
        {
          // The default: machines on a node just restarted wait for it to reconnect to its peers' drives.
          settle_after_outage: "30s",
          // `FEDSYNC_FLEET_LOG_LEVEL=debug` keeps every agent's debug lines with the logs of a failed run.
          ...(process.env.FEDSYNC_FLEET_LOG_LEVEL && { log: { level: process.env.FEDSYNC_FLEET_LOG_LEVEL } }),
        },
        cluster,
      );
      processes = fed.agents.map((agent) => new AgentProcess(fed.spawnAgent(agent)));
      await Promise.all(processes.map((agent) => agent.waitForLog(/ready/, 60_000)));
    });
    after(async () => {
      await Promise.all(processes.map((agent) => agent.stop()));
      await fed?.close();
    });

    /** One random change on one machine: its own files are written, edited and deleted; shared ones edited. */
    const change = (agent: Agent) => {
      const set = random.pick(SETS);
      const roll = random.next();
      const content = `${agent.name} ${set} ${++log.ops}\n`;
      const note = (what: string) =>
        log.lines.push(
          `${new Date().toISOString()} ${what} ${sha256(content).slice(0, 12)} ${content.trim()}`,
        );
      if (roll < 0.35) {
        const key = `shared-${random.int(0, SHARED_FILES - 1)}.txt`;
        const path = agent.path(key, set);
        if (existsSync(path)) {
          const before = sha256(readFileSync(path, "utf8"));
          log.superseded.add(before);
          note(`${set}/${key} over ${before.slice(0, 12)}:`);
        } else note(`${set}/${key} new:`);
        writeFileSync(path, content);
        const written = log.shared.get(`${set}/${key}`) ?? new Set<string>();
        log.shared.set(`${set}/${key}`, written.add(sha256(content)));
      } else {
        const key = `own/${agent.name}/${random.int(0, OWN_FILES - 1)}.txt`;
        const path = agent.path(key, set);
        if (roll < 0.5 && existsSync(path)) {
          rmSync(path);
          note(`${set}/${key} deleted, not:`);
          log.ownLast.set(`${set}/${key}`, null);
          return;
        }
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, content);
        note(`${set}/${key}:`);
        log.ownLast.set(`${set}/${key}`, content);
      }
      log.written.add(sha256(content));
    };

    /** Every agent's output, in files for a failure to be looked into. */
    const keepLogs = () => {
      const dir = mkdtempSync(join(tmpdir(), `fedsync-fleet-${random.seed}-`));
      for (const [i, agent] of processes.entries())
        writeFileSync(join(dir, `${fed.agents[i]!.name}.log`), agent.output);
      writeFileSync(join(dir, "writes.log"), log.lines.join("\n"));
      cpSync(fed.dir, join(dir, "federation"), { recursive: true });
      return dir;
    };

    const trees = () =>
      fed.agents.flatMap((agent) =>
        SETS.map((set) => ({ name: `${agent.name}/${set}`, set, tree: snapshot(agent.root(set)) })),
      );
    const contentsOf = (tree: Map<string, { type: string; sha256?: string }>) =>
      [...tree]
        .filter(([key, entry]) => entry.type === "file" && !key.includes(".fedsync-tmp-"))
        .map(([key, entry]) => [key, entry.sha256!]);
    const differences = () => {
      let all: ReturnType<typeof trees>;
      try {
        all = trees();
      } catch (error) {
        // A temp file renamed or removed under the walk: the trees are still changing.
        return [`a tree changed while read: ${(error as Error).message}`];
      }
      const lines: string[] = [];
      for (const set of SETS) {
        const ofSet = all.filter((t) => t.set === set);
        const first = new Map(contentsOf(ofSet[0]!.tree) as [string, string][]);
        for (const other of ofSet.slice(1)) {
          const theirs = new Map(contentsOf(other.tree) as [string, string][]);
          for (const key of new Set([...first.keys(), ...theirs.keys()])) {
            if (first.get(key) !== theirs.get(key)) lines.push(`${other.name}: ${key} differs from a's`);
          }
        }
      }
      return lines;
    };

    test("random writes, edits and deletes on every machine converge with nothing lost", async () => {
      const started = Date.now();
      let killed = false;
      let restarted: Promise<void> | undefined;
      while (Date.now() - started < WORKLOAD_MS) {
        change(random.pick(fed.agents));
        const elapsed = Date.now() - started;
        if (FAILING_NODE !== undefined && !killed && elapsed > WORKLOAD_MS / 3) {
          killed = true;
          await cluster.killNode(FAILING_NODE);
        }
        if (FAILING_NODE !== undefined && killed && !restarted && elapsed > (WORKLOAD_MS * 2) / 3)
          restarted = cluster.startNode(FAILING_NODE);
        await new Promise((resolve) => setTimeout(resolve, random.int(20, 180)));
      }
      await restarted;
      const quiet = Date.now();
      await waitUntil(
        () => differences().length === 0,
        CONVERGENCE_MS,
        "every tree to converge",
        () => `${differences().slice(0, 40).join("\n")}\nagents' logs: ${keepLogs()}`,
      );
      const convergedAfter = Date.now() - quiet;
      try {
        checkTrees();
      } catch (error) {
        (error as Error).message += `\nagents' logs, writes and trees: ${keepLogs()}`;
        throw error;
      }
      process.stdout.write(
        `# fleet: ${log.ops} changes on ${AGENTS} machines in ${WORKLOAD_MS / 1000} s` +
          (FAILING_NODE === undefined
            ? ""
            : `, node ${FAILING_NODE + 1} of 4 down from ${WORKLOAD_MS / 3000} s to ${(WORKLOAD_MS * 2) / 3000} s`) +
          `; converged ${convergedAfter} ms after the last change; seed ${random.seed}\n`,
      );
    });

    /** What a user would check in the converged trees, against the log of every write. */
    const checkTrees = () => {
      for (const [i, agent] of processes.entries()) assert.equal(agent.exitCode, null, `agent ${i} exited`);
      const [a] = fed.agents as [Agent];
      let conflictCopies = 0;
      for (const set of SETS) {
        const tree = snapshot(a.root(set));
        const present = new Set(contentsOf(tree).map(([, hash]) => hash));
        for (const [key, hash] of contentsOf(tree)) {
          assert.ok(log.written.has(hash!), `${set}/${key} holds something no machine wrote`);
          if (isConflictCopy(key!)) {
            conflictCopies++;
            assert.match(
              key!,
              /^shared-\d\.fedsync-conflict-/,
              `only shared files have conflict copies: ${key}`,
            );
          }
        }
        for (const [path, last] of log.ownLast) {
          if (!path.startsWith(`${set}/`)) continue;
          const entry = tree.get(path.slice(set.length + 1));
          if (last === null) assert.equal(entry, undefined, `${path} was deleted by its only writer`);
          else assert.equal(entry?.sha256, sha256(last), `${path} holds its only writer's last write`);
        }
        for (const [path, contents] of log.shared) {
          if (!path.startsWith(`${set}/`)) continue;
          for (const hash of contents) {
            if (!log.superseded.has(hash))
              assert.ok(present.has(hash), `a version of ${path} that no one wrote over is kept: ${hash}`);
          }
        }
      }
      assert.ok(conflictCopies > 0, "concurrent edits of shared files made conflict copies");
      process.stdout.write(`# fleet: ${conflictCopies} conflict copies\n`);
    };
  });
}
