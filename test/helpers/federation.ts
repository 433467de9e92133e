import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  lstatSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { after, before } from "node:test";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { startMinio, type MinioServer } from "./minio.js";

export const repoRoot = resolve(import.meta.dirname, "../..");
export const cliPath = join(repoRoot, "dist/cli.js");

export interface SetSpec {
  name: string;
  method?: "heavyweight" | "lightweight";
  [key: string]: unknown;
}

export interface Agent {
  name: string;
  home: string;
  stateDir: string;
  configPath: string;
  /** Root of the agent's tree for a set. */
  root(set?: string): string;
  path(rel: string, set?: string): string;
  /** Rewrites the agent's config with these sets, and creates their roots. */
  writeConfig(sets?: SetSpec[], extra?: Record<string, unknown>): void;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Federation {
  minio: MinioServer;
  bucket: string;
  agents: Agent[];
  dir: string;
  run(agent: Agent, args: string[], env?: Record<string, string>): Promise<CommandResult>;
  /** `fedsync sync` on the agent; fails the test unless it exits 0 (unless `expectCode` says otherwise). */
  sync(agent: Agent, args?: string[], expectCode?: number): Promise<CommandResult>;
  spawnAgent(agent: Agent, env?: Record<string, string>): ChildProcess;
  /** The config's `datastore` block for this federation's bucket, through `endpoint` (a proxy, say). */
  datastoreConfig(endpoint?: string): DatastoreYaml;
  close(): Promise<void>;
}

export interface DatastoreYaml {
  endpoint: string;
  bucket: string;
  access_key_id: string;
  secret_access_key_file: string;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => done({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Starts a federation before the enclosing suite's tests and closes it after them; `onStart` receives it
 * once started (to keep it and its agents in the suite's variables).
 */
export function useFederation(
  args: Parameters<typeof startFederation>,
  onStart: (federation: Federation) => void,
): void {
  let federation: Federation | undefined;
  before(async () => {
    federation = await startFederation(...args);
    onStart(federation);
  });
  after(async () => {
    await federation?.close();
  });
}

/**
 * A MinIO server, a bucket and `count` agents with their own trees, state dirs and configs. `server`, when
 * given, is used (and stopped at close) instead of a new single server; with `endpoints` (a cluster's
 * nodes) agent i talks to node i modulo their number.
 */
export async function startFederation(
  count: number,
  sets: SetSpec[] = [{ name: "web" }],
  extra: Record<string, unknown> = {},
  server?: MinioServer & { endpoints?: string[] },
): Promise<Federation> {
  const minio = server ?? (await startMinio());
  const bucket = await minio.createBucket();
  const dir = mkdtempSync(join(tmpdir(), "fedsync-fed-"));
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, minio.secretKey, { mode: 0o600 });
  const datastoreConfig = (endpoint = minio.endpoint): DatastoreYaml => ({
    endpoint,
    bucket,
    access_key_id: minio.accessKey,
    secret_access_key_file: secretFile,
  });
  const agents: Agent[] = [];
  for (let i = 0; i < count; i++) {
    const name = String.fromCharCode(97 + i);
    const home = join(dir, name);
    mkdirSync(home);
    const agent: Agent = {
      name,
      home,
      stateDir: join(home, "state"),
      configPath: join(home, "fedsync.yaml"),
      root: (set = sets[0]!.name) => join(home, "trees", set),
      path: (rel, set) => join(agent.root(set), rel),
      writeConfig(newSets = sets, newExtra = extra) {
        const config = {
          machine: `machine-${name}`,
          state_dir: agent.stateDir,
          datastore: datastoreConfig(server?.endpoints?.[i % server.endpoints.length]),
          // Tests that cut the datastore resume a second after it is back, not the default 30 s.
          settle_after_outage: "1s",
          ...newExtra,
          sets: newSets.map((set) => ({ path: agent.root(set.name), ...set })),
        };
        writeFileSync(agent.configPath, stringify(config));
        for (const set of config.sets) mkdirSync(set.path, { recursive: true });
      },
    };
    agent.writeConfig();
    agents.push(agent);
  }
  const children = new Set<ChildProcess>();
  return {
    minio,
    bucket,
    agents,
    dir,
    datastoreConfig,
    run: (agent, args, env) => runCli(["--config", agent.configPath, ...args], env),
    async sync(agent, args = [], expectCode = 0) {
      const result = await runCli(["--config", agent.configPath, "sync", ...args]);
      if (result.code !== expectCode) {
        throw new Error(
          `sync on ${agent.name} exited ${result.code}, expected ${expectCode}:\n${result.stderr}${result.stdout}`,
        );
      }
      return result;
    },
    spawnAgent(agent, env = {}) {
      const child = spawn(process.execPath, [cliPath, "--config", agent.configPath, "run"], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      child.on("exit", () => children.delete(child));
      return child;
    },
    async close() {
      for (const child of children) child.kill("SIGKILL");
      await minio.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TreeEntry {
  type: "file" | "dir" | "symlink";
  mode: number;
  mtimeMs?: number;
  sha256?: string;
  target?: string;
}

/** Every entry under `root` (relative path -> type, mode, mtime, content hash), for comparing trees. */
export function snapshot(root: string, options: { mtimes?: boolean } = {}): Map<string, TreeEntry> {
  const result = new Map<string, TreeEntry>();
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const rel = prefix + name;
      const stats = lstatSync(path, { bigint: true });
      if (stats.isDirectory()) {
        result.set(rel + "/", { type: "dir", mode: Number(stats.mode & 0o7777n) });
        walk(path, rel + "/");
      } else if (stats.isSymbolicLink()) {
        result.set(rel, { type: "symlink", mode: 0, target: readlinkSync(path) });
      } else {
        result.set(rel, {
          type: "file",
          mode: Number(stats.mode & 0o7777n),
          mtimeMs: options.mtimes ? Number(stats.mtimeMs) : undefined,
          sha256: createHash("sha256").update(readFileSync(path)).digest("hex"),
        });
      }
    }
  };
  walk(root, "");
  return result;
}

export function writeTree(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(resolve(path, ".."), { recursive: true });
    writeFileSync(path, content);
  }
}

/** Whether the bucket holds an object at `key` (a HEAD). */
export function objectExists(fed: Federation, key: string): Promise<boolean> {
  return fed.minio.client.statObject(fed.bucket, key).then(
    () => true,
    () => false,
  );
}
