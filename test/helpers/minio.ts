import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "minio";

const repoRoot = resolve(import.meta.dirname, "../..");

/** Path of the pinned MinIO server binary, built into the cache on first use (MINIO_BIN overrides). */
export function minioBinary(): string {
  return execFileSync("bash", [join(repoRoot, "scripts/go-tool.sh"), "minio"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolvePort(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

export interface MinioServer {
  endpoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  dataDir: string;
  client: Client;
  createBucket(name?: string): Promise<string>;
  /** Stops the server process, keeping its data, so a test can simulate an outage. */
  pause(): Promise<void>;
  /** Starts it again on the same port and data. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

async function waitReady(endpoint: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`minio exited with ${child.exitCode}: ${log()}`);
    try {
      const response = await fetch(`${endpoint}/minio/health/live`);
      if (response.ok && response.headers.get("x-minio-server-status") !== "offline") return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`minio did not become ready: ${log()}`);
}

/** Starts a private MinIO server on a free 127.0.0.1 port with a temp data dir and random root credentials. */
export async function startMinio(): Promise<MinioServer> {
  const binary = minioBinary();
  const dataDir = mkdtempSync(join(tmpdir(), "fedsync-minio-"));
  const port = await freePort();
  const consolePort = await freePort();
  const accessKey = `root${randomBytes(4).toString("hex")}`;
  const secretKey = randomBytes(16).toString("hex");
  const endpoint = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = "";

  const launch = async () => {
    output = "";
    const proc = spawn(
      binary,
      [
        "server",
        join(dataDir, "data"),
        "--address",
        `127.0.0.1:${port}`,
        "--console-address",
        `127.0.0.1:${consolePort}`,
        "--quiet",
      ],
      {
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: dataDir,
          MINIO_ROOT_USER: accessKey,
          MINIO_ROOT_PASSWORD: secretKey,
          MINIO_BROWSER: "off",
          MINIO_UPDATE: "off",
          MINIO_CI_CD: "1",
          // Its request counters, read by the bench without a token: the server is private to one run.
          MINIO_PROMETHEUS_AUTH_TYPE: "public",
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    proc.stdout?.on("data", collect);
    proc.stderr?.on("data", collect);
    child = proc;
    await waitReady(endpoint, proc, () => output);
  };

  const kill = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((done) => {
      proc.once("exit", () => done());
      proc.kill("SIGKILL");
    });
  };

  await launch();
  const client = new Client({
    endPoint: "127.0.0.1",
    port,
    useSSL: false,
    accessKey,
    secretKey,
    region: "us-east-1",
  });
  let bucketCount = 0;

  return {
    endpoint,
    port,
    accessKey,
    secretKey,
    dataDir,
    client,
    async createBucket(name?: string) {
      const bucket = name ?? `test-${process.pid}-${++bucketCount}-${randomBytes(3).toString("hex")}`;
      await client.makeBucket(bucket, "us-east-1");
      return bucket;
    },
    pause: kill,
    resume: launch,
    async stop() {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
