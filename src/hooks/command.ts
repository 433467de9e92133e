/** Runs one hook command: /bin/sh in its own process group, paths on stdin, bounded output, a timeout. */
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import { HOOK_SHELL, SECRET_ENV } from "../config/index.js";

/** Output kept for the log line; the rest is counted. */
export const OUTPUT_LIMIT_BYTES = 2048;
/** After SIGTERM on timeout, the process group gets this long before SIGKILL. */
const KILL_GRACE_MS = 2000;
/** After the shell exits, its output pipes get this long to drain (a background child may hold them open). */
const DRAIN_MS = 100;
/**
 * The agent's variables a hook must not inherit: the secret key, and systemd's channels to the agent itself
 * (the notify socket, the watchdog, the journal stream its stderr is not).
 */
const PRIVATE_ENV = [SECRET_ENV, "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC", "JOURNAL_STREAM"];

export interface HookCommand {
  command: string;
  /** Added to the agent's environment (less PRIVATE_ENV). */
  env: Record<string, string>;
  /** Written to stdin, one per line. */
  lines: Iterable<string>;
  timeoutMs: number;
}

export interface HookOutcome {
  /** The shell's exit code; null when it was killed by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** stdout and stderr as they interleaved, cut at OUTPUT_LIMIT_BYTES. */
  output: string;
  /** Bytes of output beyond the limit. */
  droppedBytes: number;
  durationMs: number;
  /** Why the shell could not be started. */
  startError?: string;
}

/** Process groups of the hooks running now, so an agent that gives up waiting can end them. */
const running = new Set<number>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Kills every hook still running (when the agent exits without waiting for them); returns how many. */
export function killRunningHooks(): number {
  for (const pid of running) killGroup(pid, "SIGKILL");
  const count = running.size;
  running.clear();
  return count;
}

function hookEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of PRIVATE_ENV) delete env[name];
  return { ...env, ...extra };
}

/** Runs `/bin/sh -c command` in / and a process group of its own; never throws. */
export function runHookCommand(hook: HookCommand): Promise<HookOutcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(HOOK_SHELL, ["-c", hook.command], {
      cwd: "/",
      env: hookEnv(hook.env),
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const kept: Buffer[] = [];
    let keptBytes = 0;
    let droppedBytes = 0;
    const collect = (chunk: Buffer) => {
      const room = OUTPUT_LIMIT_BYTES - keptBytes;
      if (room > 0) kept.push(chunk.subarray(0, room));
      keptBytes += Math.min(room, chunk.length);
      droppedBytes += Math.max(0, chunk.length - Math.max(room, 0));
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    // A hook that does not read its stdin closes the pipe: EPIPE is expected then.
    child.stdin.on("error", () => undefined);
    Readable.from(
      (function* () {
        for (const line of hook.lines) yield `${line}\n`;
      })(),
    ).pipe(child.stdin);

    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timeout = setTimeout(() => {
      timedOut = true;
      if (child.pid === undefined) return;
      killGroup(child.pid, "SIGTERM");
      const pid = child.pid;
      killTimer = setTimeout(() => killGroup(pid, "SIGKILL"), KILL_GRACE_MS);
    }, hook.timeoutMs);
    if (child.pid !== undefined) running.add(child.pid);

    let settled = false;
    const finish = (outcome: Omit<HookOutcome, "output" | "droppedBytes" | "durationMs" | "timedOut">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      if (child.pid !== undefined) running.delete(child.pid);
      const drained = [child.stdout, child.stderr].map(
        (stream) => new Promise((done) => (stream.closed ? done(undefined) : stream.once("close", done))),
      );
      const grace = new Promise((done) => setTimeout(done, DRAIN_MS));
      void Promise.race([Promise.all(drained), grace]).then(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        // After a timeout the SIGKILL still follows, for members of the group that outlived the shell.
        if (!timedOut) clearTimeout(killTimer);
        resolve({
          ...outcome,
          timedOut,
          output: Buffer.concat(kept).toString("utf8"),
          droppedBytes,
          durationMs: Date.now() - started,
        });
      });
    };
    child.on("error", (error) => finish({ exitCode: null, signal: null, startError: error.message }));
    child.on("exit", (code, signal) => finish({ exitCode: code, signal }));
  });
}
