import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import type { FedsyncMachine } from "./fedsync.js";

/** A `fedsync run` process for the propagation scenario. */
export class AgentProcess {
  private readonly child: ChildProcess;
  private output = "";
  private exited = false;

  constructor(machine: FedsyncMachine) {
    this.child = spawn(process.execPath, [machine.cli, "--config", machine.configPath, "run"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.child.on("exit", () => (this.exited = true));
  }

  /** The end of the agent's log, for failure messages. */
  get log(): string {
    return this.output;
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
    const done = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(timer);
  }
}
