import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import type { FedsyncMachine } from "./fedsync.js";

/** The agent's count of its S3 requests so far, as one of its `datastore requests` log lines gave it. */
export interface RequestSample {
  /** The line's time, ms since the epoch. */
  at: number;
  total: number;
}

/**
 * A `fedsync run` process for the propagation scenario. It runs with FEDSYNC_REQUEST_STATS=1, so it logs its
 * request count every minute; those lines, and the times of its passes, are kept.
 */
export class AgentProcess {
  private readonly child: ChildProcess;
  private output = "";
  private partial = "";
  private exited = false;
  readonly requestSamples: RequestSample[] = [];
  /** Times (ms since the epoch) of the passes it logged a summary of (every full pass, busy scoped ones). */
  readonly passTimes: number[] = [];

  constructor(machine: FedsyncMachine) {
    this.child = spawn(process.execPath, [machine.cli, "--config", machine.configPath, "run"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, FEDSYNC_REQUEST_STATS: "1" },
    });
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      this.output = (this.output + text).slice(-20_000);
      const lines = (this.partial + text).split("\n");
      this.partial = lines.pop() ?? "";
      for (const line of lines) this.read(line);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    // "close" comes after the last output is read, so the count it logs on stop is kept too.
    this.child.on("close", () => (this.exited = true));
  }

  private read(line: string) {
    let record: { time?: string; msg?: string; total?: number };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      return;
    }
    const at = Date.parse(record.time ?? "");
    if (record.msg === "datastore requests" && typeof record.total === "number")
      this.requestSamples.push({ at, total: record.total });
    else if (record.msg?.startsWith("pass complete")) this.passTimes.push(at);
  }

  /** The end of the agent's log, for failure messages. */
  get log(): string {
    return this.output;
  }

  get pid(): number {
    return this.child.pid ?? NaN;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Peak RSS so far (VmHWM). */
  peakRssMiB(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : NaN;
  }

  /** SIGTERM, then wait for the exit (SIGKILL after `graceMs`). */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once("close", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(timer);
  }
}
