import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../test/helpers/minio.js";
import { AgentProcess } from "./agent.js";
import type { BenchContext } from "./context.js";
import { FedsyncMachine, type SyncRun } from "./fedsync.js";
import { removeTree } from "./process.js";
import { samples, type Counts } from "./prometheus.js";
import { writeTreeFiles } from "./trees.js";

/** The sets every machine of a fleet has: a lightweight one that changes, a heavyweight one that does not. */
const LIVE_SET = "live";
const BULK_SET = "bulk";
export const FLEET_SETS = [LIVE_SET, BULK_SET] as const;
type SetName = (typeof FLEET_SETS)[number];

export interface FleetShape {
  machines: number;
  liveFiles: number;
  bulkFiles: number;
  fileSize: number;
}

export interface Member {
  machine: FedsyncMachine;
  agent: AgentProcess;
  metricsUrl: string;
  roots: Record<SetName, string>;
}

interface Scrape {
  requests: Counts;
  /** Whether the lightweight set's notification stream is open. */
  streamUp: boolean;
}

async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const text = await response.text();
  const requests: Counts = {};
  for (const { labels, value } of samples(text, "fedsync_datastore_requests_total"))
    requests[labels.operation ?? "?"] = value;
  const streamUp = samples(text, "fedsync_notification_stream_up").some(
    ({ labels, value }) => labels.set === LIVE_SET && value === 1,
  );
  return { requests, streamUp };
}

/** Relative path → SHA-256 of every file under `root`. */
function digests(root: string, into = new Map<string, string>(), prefix = ""): Map<string, string> {
  for (const entry of readdirSync(join(root, prefix), { withFileTypes: true })) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) digests(root, into, path);
    else
      into.set(
        path,
        createHash("sha256")
          .update(readFileSync(join(root, path)))
          .digest("hex"),
      );
  }
  return into;
}

function sameTree(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([path, digest]) => b.get(path) === digest);
}

function holds(path: string, content: Buffer): boolean {
  try {
    return readFileSync(path).equals(content);
  } catch {
    return false;
  }
}

/**
 * N machines, each a `fedsync run` agent with its own state dir, trees and metrics endpoint, on one bucket.
 * Machine 0's trees are seeded and synced once before the agents start; the others start empty.
 */
export class Fleet {
  private constructor(
    readonly home: string,
    readonly members: Member[],
    /** The one-shot sync that seeded the bucket from machine 0. */
    readonly seeding: SyncRun,
  ) {}

  static async start(ctx: BenchContext, bucket: string, shape: FleetShape): Promise<Fleet> {
    const home = join(ctx.work, `fleet-${shape.machines}`);
    const members: Member[] = [];
    try {
      const machines: { machine: FedsyncMachine; metricsUrl: string; roots: Member["roots"] }[] = [];
      for (let index = 0; index < shape.machines; index++) {
        const base = join(home, `fleet-${shape.machines}-m${index}`);
        const roots = { [LIVE_SET]: join(base, LIVE_SET), [BULK_SET]: join(base, BULK_SET) };
        mkdirSync(roots.live, { recursive: true });
        mkdirSync(roots.bulk, { recursive: true });
        if (index === 0) {
          writeTreeFiles(roots.live, shape.liveFiles, shape.fileSize);
          writeTreeFiles(roots.bulk, shape.bulkFiles, shape.fileSize);
        }
        const listen = `127.0.0.1:${await freePort()}`;
        const machine = new FedsyncMachine(
          ctx.cli,
          base,
          ctx.minio,
          bucket,
          [
            { name: LIVE_SET, path: roots.live, method: "lightweight" },
            { name: BULK_SET, path: roots.bulk, method: "heavyweight" },
          ],
          { metrics: { listen } },
        );
        machines.push({ machine, metricsUrl: `http://${listen}/metrics`, roots });
      }
      const seeding = await machines[0]!.machine.sync();
      for (const spec of machines) members.push({ ...spec, agent: new AgentProcess(spec.machine) });
      return new Fleet(home, members, seeding);
    } catch (error) {
      await Promise.all(members.map((member) => member.agent.stop()));
      await removeTree(home);
      throw error;
    }
  }

  get size(): number {
    return this.members.length;
  }

  /** Fails with the end of the logs of the agents that exited. */
  checkRunning(): void {
    const stopped = this.members.filter((member) => !member.agent.running);
    if (stopped.length === 0) return;
    const logs = stopped.map((member) => `--- ${member.machine.home} ---\n${member.agent.log.slice(-1500)}`);
    throw new Error(`${stopped.length} agent(s) exited:\n${logs.join("\n")}`);
  }

  /** Each agent's requests so far, by operation, read from its metrics endpoint. */
  async requestCounts(): Promise<Counts[]> {
    return (await Promise.all(this.members.map((member) => scrape(member.metricsUrl)))).map(
      (result) => result.requests,
    );
  }

  /** Waits until every tree equals machine 0's and every notification stream is open. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.checkRunning();
      const scrapes = await Promise.all(
        this.members.map((member) => scrape(member.metricsUrl).catch(() => null)),
      );
      if (scrapes.every((result) => result?.streamUp) && this.converged()) return;
      await sleep(1000);
    }
    throw new Error(`the fleet of ${this.size} did not converge within ${timeoutMs / 1000} s`);
  }

  private converged(): boolean {
    return FLEET_SETS.every((set) => {
      const [first, ...rest] = this.members.map((member) => digests(member.roots[set]));
      return rest.every((tree) => sameTree(first!, tree));
    });
  }

  /** Waits until every machine's lightweight tree holds `content` at `path`; false on timeout. */
  async waitForEverywhere(path: string, content: Buffer, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.members.every((member) => holds(join(member.roots.live, path), content))) {
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    return true;
  }

  /** Stops every agent (each logs its final request count). */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((member) => member.agent.stop()));
  }

  /** Each agent's request total as it logged it on stop. */
  finalTotals(): number[] {
    return this.members.map((member) => member.agent.requestSamples.at(-1)?.total ?? NaN);
  }

  async remove(): Promise<void> {
    await this.stop();
    await removeTree(this.home);
  }
}
