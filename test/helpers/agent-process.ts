import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

/** Captured output of a `fedsync run` child, with a way to wait for a log line. */
export class AgentProcess {
  output = "";
  exitCode: number | null = null;
  private readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.on("exit", (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    await waitUntil(
      () => pattern.test(this.output),
      timeoutMs,
      `log line ${pattern}`,
      () => this.output,
    );
  }

  /** The exit code, once the process has ended by itself. */
  waitForExit(): Promise<number | null> {
    return this.exited;
  }

  /** SIGTERM, then the exit code. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export async function waitUntil(
  condition: () => boolean,
  timeoutMs: number,
  what: string,
  context: () => string = () => "",
): Promise<number> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${context()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Date.now() - started;
}

export function fileHas(path: string, content: string): boolean {
  try {
    return existsSync(path) && readFileSync(path, "utf8") === content;
  } catch {
    return false;
  }
}
