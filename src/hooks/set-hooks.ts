import type { SetConfig } from "../config/types.js";
import type { AuditEntry } from "../history/audit.js";
import type { Logger } from "../log/index.js";
import type { PathBatch } from "./batch.js";
import { runHookCommand, type HookOutcome } from "./command.js";
import { HookQueue } from "./hook-queue.js";

export type HookName = "on_change" | "on_conflict";
export type HookResult = "ok" | "failed" | "timeout";

export interface SetHooksDeps {
  set: SetConfig;
  machine: string;
  logger: Logger;
  /** Told the result of every run (for metrics). */
  onRun?: (hook: HookName, result: HookResult) => void;
}

function seconds(ms: number): number {
  return Math.round(ms / 10) / 100;
}

function resultOf(outcome: HookOutcome): HookResult {
  if (outcome.timedOut) return "timeout";
  return outcome.exitCode === 0 ? "ok" : "failed";
}

/**
 * A set's `on_change` and `on_conflict` hooks. The set runner reports every change the passes apply here
 * (the audit trail's entries) and the end of every pass; each hook then runs on its own queue.
 */
export class SetHooks {
  private readonly change?: HookQueue;
  private readonly conflict?: HookQueue;

  constructor(private readonly deps: SetHooksDeps) {
    const { set } = deps;
    if (set.onChange !== undefined) {
      const command = set.onChange;
      this.change = new HookQueue(set.hookDebounceMs, (batch) => this.run("on_change", command, batch));
    }
    if (set.onConflict !== undefined) {
      const command = set.onConflict;
      this.conflict = new HookQueue(set.hookDebounceMs, (batch) => this.run("on_conflict", command, batch));
    }
  }

  /** A change a pass applied or published; only those that arrived in the local tree concern the hooks. */
  applied(entry: AuditEntry): void {
    if (entry.action === "download" || entry.action === "delete-local") this.change?.add(entry.path);
    else if (entry.action === "conflict" && entry.detail !== undefined) {
      this.change?.add(entry.detail);
      this.conflict?.add(entry.detail);
    }
  }

  passStarted(): void {
    this.change?.passStarted();
    this.conflict?.passStarted();
  }

  passEnded(): void {
    this.change?.passEnded();
    this.conflict?.passEnded();
  }

  /** Runs what is still waiting, then returns once no hook of the set runs. */
  async stop(): Promise<void> {
    await Promise.all([this.change?.stop(), this.conflict?.stop()]);
  }

  private async run(hook: HookName, command: string, batch: PathBatch): Promise<void> {
    const { set, machine, logger } = this.deps;
    const outcome = await runHookCommand({
      command,
      env: {
        FEDSYNC_HOOK: hook,
        FEDSYNC_SET: set.name,
        FEDSYNC_ROOT: set.path,
        FEDSYNC_MACHINE: machine,
        FEDSYNC_CHANGED: String(batch.count),
      },
      lines: batch.lines(),
      timeoutMs: set.hookTimeoutMs,
    });
    const result = resultOf(outcome);
    this.deps.onRun?.(hook, result);
    const output = outcome.output.trimEnd();
    const fields = {
      set: set.name,
      hook,
      changed: batch.count,
      unlisted: batch.unlisted || undefined,
      seconds: seconds(outcome.durationMs),
      output: output || undefined,
      outputDropped: outcome.droppedBytes || undefined,
    };
    if (outcome.startError !== undefined) {
      logger.error(`${hook} hook could not start: ${outcome.startError}`, fields);
    } else if (outcome.timedOut) {
      logger.warn(
        `${hook} hook timed out after ${seconds(set.hookTimeoutMs)}s; its process group was killed`,
        fields,
      );
    } else if (result === "ok") {
      logger.info(`${hook} hook ran: exit 0`, fields);
    } else {
      const how = outcome.signal ? `killed by ${outcome.signal}` : `exit ${outcome.exitCode}`;
      logger.warn(`${hook} hook failed: ${how}`, fields);
    }
  }
}
