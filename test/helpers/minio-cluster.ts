import assert from "node:assert/strict";
import { spawn, spawnSync, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Client } from "minio";
import { minioBinary, type MinioServer } from "./minio.js";

/**
 * The private address the cluster listens on. MinIO refuses 127.0.0.1 for a distributed setup when it
 * believes it runs in a container, so the cluster and everything talking to it live in a network namespace
 * of the test's own (see `inOwnNetworkNamespace`), with this address on its loopback device.
 */
const CLUSTER_ADDRESS = "10.77.0.1";
const FIRST_PORT = 9101;
const DRIVES_PER_NODE = 4;

/** Set in the environment of a test process re-run inside its own network namespace. */
export const NETNS_ENV = "FEDSYNC_TEST_NETNS";

export function inOwnNetworkNamespace(): boolean {
  return process.env[NETNS_ENV] === "1";
}

export interface MinioCluster extends MinioServer {
  /** Each node's endpoint; node i serves the same erasure-coded pool as every other. */
  endpoints: string[];
  /** Kills node `index` (SIGKILL), as a crash or a pulled cable would end it. */
  killNode(index: number): Promise<void>;
  /** Starts node `index` again on its drives; resolves once every node reports the cluster healthy. */
  startNode(index: number): Promise<void>;
}

/**
 * Runs the test file at `url` again inside a new network namespace (where a cluster may take its address),
 * reporting as one test of the calling run; its own tests pass or fail in there.
 */
export function testInOwnNetworkNamespace(title: string, url: string, timeoutMs: number): void {
  test(title, { timeout: timeoutMs + 10_000 }, () => {
    const env: NodeJS.ProcessEnv = { ...process.env, [NETNS_ENV]: "1" };
    // Without the runner's mark the inner run reports on its own, not to this one.
    delete env.NODE_TEST_CONTEXT;
    const result = spawnSync(
      "unshare",
      ["--net", process.execPath, "--import", "tsx", "--test", "--test-reporter=spec", fileURLToPath(url)],
      { env, encoding: "utf8", timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
    );
    process.stdout.write(result.stdout);
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
  });
}

async function healthy(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/minio/health/cluster`)).status === 200;
  } catch {
    return false;
  }
}

/**
 * Four MinIO processes started as one erasure-coded pool of four drives each. Every node must see its drives
 * under the same path, so each runs in a mount namespace of its own with its data directory bind-mounted at
 * that path. Resolves once `/minio/health/cluster` answers 200 on every node. Only inside the test's own
 * network namespace: it puts its address on the namespace's loopback device.
 */
export async function startMinioCluster(nodes = 4): Promise<MinioCluster> {
  if (!inOwnNetworkNamespace())
    throw new Error("a MinIO cluster runs only in the test's own network namespace");
  execFileSync("ip", ["link", "set", "lo", "up"]);
  execFileSync("ip", ["addr", "replace", `${CLUSTER_ADDRESS}/32`, "dev", "lo"]);
  const binary = minioBinary();
  const dir = mkdtempSync(join(tmpdir(), "fedsync-cluster-"));
  const drives = join(dir, "drives");
  const accessKey = `root${randomBytes(4).toString("hex")}`;
  const secretKey = randomBytes(16).toString("hex");
  const port = (index: number) => FIRST_PORT + index;
  const endpoints = Array.from({ length: nodes }, (_, i) => `http://${CLUSTER_ADDRESS}:${port(i)}`);
  const pool = `http://${CLUSTER_ADDRESS}:{${port(0)}...${port(nodes - 1)}}${drives}/d{1...${DRIVES_PER_NODE}}`;
  const children: (ChildProcess | undefined)[] = [];
  const outputs: string[] = [];

  const launch = (index: number) => {
    const own = join(dir, `node${index}`);
    for (let d = 1; d <= DRIVES_PER_NODE; d++) mkdirSync(join(own, `d${d}`), { recursive: true });
    mkdirSync(drives, { recursive: true });
    const script = `mount --bind "$1" "$2" && exec "$3" server --quiet --address "$4" --console-address "$5" "$6"`;
    const child = spawn(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        own,
        drives,
        binary,
        `${CLUSTER_ADDRESS}:${port(index)}`,
        `${CLUSTER_ADDRESS}:${port(index) + 100}`,
        pool,
      ],
      {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: own,
          MINIO_ROOT_USER: accessKey,
          MINIO_ROOT_PASSWORD: secretKey,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
          MINIO_CI_CD: "on",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    outputs[index] = "";
    const collect = (chunk: Buffer) => {
      outputs[index] = (outputs[index] + chunk.toString()).slice(-4000);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    children[index] = child;
  };
  const waitHealthy = async (indices: number[]) => {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if ((await Promise.all(indices.map((i) => healthy(endpoints[i]!)))).every(Boolean)) return;
      const dead = indices.find((i) => children[i]?.exitCode !== null);
      if (dead !== undefined) throw new Error(`minio node ${dead} exited: ${outputs[dead]}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`the cluster did not become healthy:\n${outputs.join("\n---\n")}`);
  };
  const killNode = async (index: number) => {
    const child = children[index];
    children[index] = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((done) => {
      child.once("exit", () => done());
      child.kill("SIGKILL");
    });
  };

  const all = endpoints.map((_, i) => i);
  for (const index of all) launch(index);
  await waitHealthy(all);
  const client = new Client({
    endPoint: CLUSTER_ADDRESS,
    port: port(0),
    useSSL: false,
    accessKey,
    secretKey,
    region: "us-east-1",
  });
  let buckets = 0;
  return {
    endpoint: endpoints[0]!,
    endpoints,
    port: port(0),
    accessKey,
    secretKey,
    dataDir: dir,
    client,
    async createBucket(name?: string) {
      const bucket = name ?? `cluster-${++buckets}-${randomBytes(3).toString("hex")}`;
      await client.makeBucket(bucket, "us-east-1");
      return bucket;
    },
    killNode,
    async startNode(index: number) {
      launch(index);
      await waitHealthy(all);
    },
    async pause() {
      for (const index of all) await killNode(index);
    },
    async resume() {
      for (const index of all) launch(index);
      await waitHealthy(all);
    },
    async stop() {
      for (const index of all) await killNode(index);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
