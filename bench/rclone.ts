import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { MinioServer } from "../test/helpers/minio.js";
import { repoRoot } from "./fedsync.js";
import { measure, type Measured } from "./process.js";

/** The remote name the bench gives the MinIO server in rclone's environment config. */
export const REMOTE = "bench";

/** Path of the pinned rclone binary, built into the cache on first use (RCLONE_BIN overrides). */
export function rcloneBinary(): string {
  return execFileSync("bash", [join(repoRoot, "scripts/go-tool.sh"), "rclone"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

export interface RcloneRun extends Measured {
  /** Requests by operation, when counted (`--dump headers`). */
  requests?: Record<string, number>;
  totalRequests?: number;
}

export class Rclone {
  private readonly env: Record<string, string>;

  constructor(
    readonly binary: string,
    minio: MinioServer,
  ) {
    const prefix = `RCLONE_CONFIG_${REMOTE.toUpperCase()}_`;
    this.env = {
      RCLONE_CONFIG: "/dev/null",
      [`${prefix}TYPE`]: "s3",
      [`${prefix}PROVIDER`]: "Minio",
      [`${prefix}ENV_AUTH`]: "false",
      [`${prefix}ACCESS_KEY_ID`]: minio.accessKey,
      [`${prefix}SECRET_ACCESS_KEY`]: minio.secretKey,
      [`${prefix}ENDPOINT`]: minio.endpoint,
      [`${prefix}REGION`]: "us-east-1",
    };
  }

  /** Runs rclone, timed; with `countRequests`, also counts its HTTP requests from a header dump. */
  async run(
    args: string[],
    options: { countRequests?: boolean; okCodes?: number[] } = {},
  ): Promise<RcloneRun> {
    const extra = options.countRequests ? ["--dump", "headers", "--log-level", "DEBUG"] : ["--quiet"];
    const run = await measure(this.binary, [...args, ...extra], {
      env: this.env,
      okCodes: options.okCodes,
      keepOutput: options.countRequests ? 200_000_000 : 100_000,
    });
    if (!options.countRequests) return run;
    const requests = dumpedRequests(run.stderr);
    return { ...run, requests, totalRequests: Object.values(requests).reduce((a, b) => a + b, 0) };
  }

  async version(): Promise<string> {
    const run = await measure(this.binary, ["version"]);
    return run.stdout.split("\n")[0]?.trim() ?? "unknown";
  }
}

/** A dumped request line, after rclone's log prefix: `... DEBUG : GET /bucket?list-type=2 HTTP/1.1`. */
const REQUEST_LINE = /(?:^|: )([A-Z]+) (\/\S*) HTTP\/1/;

/**
 * Requests in rclone's `--dump headers` output, by S3 operation: each dumped request is a banner line
 * followed by its request line.
 */
function dumpedRequests(stderr: string): Record<string, number> {
  const counts: Record<string, number> = {};
  const lines = stderr.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i]!.includes("HTTP REQUEST")) continue;
    const match = lines
      .slice(i + 1, i + 4)
      .map((line) => REQUEST_LINE.exec(line))
      .find((found) => found !== null);
    const name = operation(match?.[1] ?? "?", match?.[2] ?? "");
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

function operation(method: string, target: string): string {
  const [path = "", query = ""] = target.split("?");
  const hasKey = path.split("/").filter(Boolean).length > 1;
  if (query.includes("uploadId")) return method === "PUT" ? "UploadPart" : "CompleteMultipartUpload";
  if (query.includes("uploads")) return "CreateMultipartUpload";
  if (query.includes("list-type=2")) return "ListObjectsV2";
  if (method === "GET") return hasKey ? "GetObject" : "ListObjects";
  if (method === "HEAD") return hasKey ? "HeadObject" : "HeadBucket";
  if (method === "PUT") return hasKey ? "PutObject" : "CreateBucket";
  if (method === "DELETE") return "DeleteObject";
  return `${method} ${hasKey ? "object" : "bucket"}`;
}
