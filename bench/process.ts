import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export interface Measured {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  seconds: number;
  /** Peak resident set size of the process, as /usr/bin/time reports it. */
  peakRssMiB: number;
  /** CPU time the process used (user + system), as /usr/bin/time reports it. */
  cpuSeconds: number;
}

export interface MeasureOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Keep at most this many characters of each output stream (the end of it). */
  keepOutput?: number;
  /** Fail unless the command exits with one of these codes (default: 0 only). */
  okCodes?: number[];
}

const TIME_BINARY = "/usr/bin/time";

function tail(text: string, keep: number): string {
  return text.length > keep ? text.slice(-keep) : text;
}

/** Runs a command under /usr/bin/time, timing it and recording its peak RSS. */
export async function measure(
  command: string,
  args: string[],
  options: MeasureOptions = {},
): Promise<Measured> {
  const scratch = mkdtempSync(join(tmpdir(), "fedsync-bench-time-"));
  const timeFile = join(scratch, "rss");
  const keep = options.keepOutput ?? 1_000_000;
  try {
    const started = performance.now();
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(TIME_BINARY, ["-f", "%M %U %S", "-o", timeFile, command, ...args], {
          env: { ...process.env, ...options.env },
          cwd: options.cwd,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (chunk: Buffer) => (out = tail(out + chunk.toString(), keep)));
        child.stderr.on("data", (chunk: Buffer) => (err = tail(err + chunk.toString(), keep)));
        child.on("error", reject);
        child.on("close", (exitCode) => resolve({ code: exitCode ?? -1, stdout: out, stderr: err }));
      },
    );
    const seconds = (performance.now() - started) / 1000;
    const okCodes = options.okCodes ?? [0];
    if (!okCodes.includes(code)) {
      throw new Error(
        `${command} ${args.join(" ")} exited ${code}:\n${tail(stderr, 3000)}${tail(stdout, 1000)}`,
      );
    }
    const [rssKiB = NaN, user = NaN, system = NaN] = readFileSync(timeFile, "utf8")
      .trim()
      .split("\n")
      .pop()!
      .split(" ")
      .map(Number);
    return { code, stdout, stderr, seconds, peakRssMiB: rssKiB / 1024, cpuSeconds: user + system };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Runs a command to completion and returns its stdout; fails on a non-zero exit. */
export async function output(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${err}`)),
    );
  });
}

/** Removes a directory tree (with `rm -rf`, much faster than fs.rm for a million files). */
export async function removeTree(path: string): Promise<void> {
  await output("rm", ["-rf", path]);
}
