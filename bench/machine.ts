import { cpus, release, totalmem } from "node:os";
import { availableParallelism } from "node:os";
import { output } from "./process.js";

export interface MachineFacts {
  date: string;
  cpu: string;
  nproc: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  minio: string;
  rclone: string;
  sha256sum: string;
  loadAverage: string;
}

async function firstLine(command: string, args: string[]): Promise<string> {
  try {
    return (await output(command, args)).split("\n")[0]!.trim();
  } catch (error) {
    return `unknown (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`;
  }
}

export async function machineFacts(minioBinary: string, rcloneVersion: string): Promise<MachineFacts> {
  const { readFileSync } = await import("node:fs");
  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cpu: cpus()[0]?.model ?? "unknown",
    nproc: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    minio: await firstLine(minioBinary, ["--version"]),
    rclone: rcloneVersion,
    sha256sum: await firstLine("sha256sum", ["--version"]),
    loadAverage: load,
  };
}
