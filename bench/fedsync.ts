import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { stringify } from "yaml";
import type { MinioServer } from "../test/helpers/minio.js";
import { measure, type Measured } from "./process.js";

export const repoRoot = resolve(import.meta.dirname, "..");
/** The built CLI the bench runs, unless `--cli` names another build (to compare two versions). */
export const defaultCliPath = join(repoRoot, "dist/cli.js");

export interface SetSpec {
  name: string;
  path: string;
  method?: "heavyweight" | "lightweight";
  [option: string]: unknown;
}

export interface SyncRun extends Measured {
  /** S3 requests by operation, as fedsync counted them (FEDSYNC_REQUEST_STATS). */
  requests: Record<string, number>;
  totalRequests: number;
}

/** One fedsync machine on the bench's MinIO: a config file and a state dir under `home`, named after it. */
export class FedsyncMachine {
  readonly stateDir: string;
  readonly configPath: string;

  constructor(
    readonly cli: string,
    readonly home: string,
    minio: MinioServer,
    bucket: string,
    sets: SetSpec[],
    /** More top-level config keys (`metrics`, ...). */
    extra: Record<string, unknown> = {},
  ) {
    mkdirSync(home, { recursive: true });
    this.stateDir = join(home, "state");
    this.configPath = join(home, "fedsync.yaml");
    const secretFile = join(home, "secret");
    writeFileSync(secretFile, minio.secretKey, { mode: 0o600 });
    const config = {
      machine: basename(home).slice(0, 63),
      state_dir: this.stateDir,
      datastore: {
        endpoint: minio.endpoint,
        bucket,
        access_key_id: minio.accessKey,
        secret_access_key_file: secretFile,
      },
      log: { format: "json" },
      sets,
      ...extra,
    };
    writeFileSync(this.configPath, stringify(config));
  }

  /** `fedsync sync`, timed, with its request counts. */
  async sync(...args: string[]): Promise<SyncRun> {
    const run = await measure(process.execPath, [this.cli, "--config", this.configPath, "sync", ...args], {
      env: { FEDSYNC_REQUEST_STATS: "1" },
    });
    const requests = requestCounts(run.stderr);
    return { ...run, requests, totalRequests: Object.values(requests).reduce((a, b) => a + b, 0) };
  }

  /** Bytes the journal takes on disk (database, WAL and shared memory files). */
  journalBytes(): number {
    let total = 0;
    for (const suffix of ["", "-wal", "-shm"]) {
      const file = join(this.stateDir, `journal.db${suffix}`);
      if (existsSync(file)) total += statSync(file).size;
    }
    return total;
  }
}

function requestCounts(stderr: string): Record<string, number> {
  for (const line of stderr.split("\n").reverse()) {
    if (!line.includes('"datastore requests"')) continue;
    const record = JSON.parse(line) as { requests?: Record<string, number> };
    if (record.requests) return record.requests;
  }
  throw new Error(`fedsync sync did not report its requests:\n${stderr.slice(-2000)}`);
}

/** `PutObject 10,000, ListObjectsV2 3` — the biggest first. */
export function formatRequests(requests: Record<string, number>): string {
  return Object.entries(requests)
    .sort((a, b) => b[1] - a[1])
    .map(([name, count]) => `${name} ${count.toLocaleString("en-US")}`)
    .join(", ");
}
