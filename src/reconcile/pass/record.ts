import { logOnce } from "../../log/index.js";
import type { ScanProblem } from "../../scan/entry.js";
import { CHANGE_LOG_BATCH, publishChanges } from "../housekeeping.js";
import type { PassItem } from "../item.js";
import type { Action } from "../planner.js";
import type { Joined } from "../sources.js";
import type { PassRun } from "./context.js";

/** Rows whose object's own Last-Modified is learnt in one journal transaction. */
const LEARN_BATCH = 1000;

/**
 * What the pass writes down beside the executor's own records: the problems met, the plan of a dry run, the
 * objects' Last-Modified learnt from the listing, and the change log of what went out.
 */
export class PassRecorder {
  changeLogKey?: string;
  // Objects that still match their rows, with the bucket's Last-Modified the rows do not hold yet (an upload
  // records its own clock): once learnt, later listings of them need no metadata.
  private readonly learned: [string, number][] = [];

  constructor(private readonly run: PassRun) {}

  problem(key: string, detail: string): void {
    this.run.problems.count++;
    this.run.problems.last = `${key}: ${detail}`;
  }

  /** An entry the scan could not read: logged once, counted as skipped. */
  scanProblem(problem: ScanProblem): void {
    logOnce(
      this.run.logger,
      `problem:${problem.key}:${problem.reason}`,
      "warn",
      `skipping ${problem.key}: ${problem.detail}`,
      {
        path: problem.key,
        reason: problem.reason,
      },
    );
    this.problem(problem.key, problem.detail);
    this.run.executor.counts.skipped++;
  }

  /** A dry run's action, for the plan it shows. */
  planned(item: PassItem, action: Action): void {
    this.run.planned.push({ key: item.key, action: action.kind, detail: describe(action) });
  }

  /** A key that needs no action: its row learns the object's Last-Modified, when the listing told it. */
  agreed(join: Joined): void {
    const lastModified = join.remote?.info.lastModified.getTime();
    if (!this.run.dryRun && join.row && lastModified !== undefined && !join.remote?.current) {
      if (join.row.remoteLastModified !== lastModified) this.learned.push([join.key, lastModified]);
      if (this.learned.length >= LEARN_BATCH) this.learn();
    }
  }

  learn(): void {
    this.run.deps.journal.setRemoteLastModified(this.run.deps.set.name, this.learned.splice(0));
  }

  /** Writes the outbox's records as a change-log object; a failure is the caller's. */
  async publish(): Promise<void> {
    this.run.executor.published();
    this.changeLogKey = (await publishChanges(this.run.deps, this.run.now())) ?? this.changeLogKey;
  }

  /** Publishes once a batch of changes waits; a failure leaves them in the outbox for the pass's last write. */
  async publishWhenDue(): Promise<void> {
    if (this.run.executor.unpublished >= CHANGE_LOG_BATCH) await this.publishSoFar();
  }

  /** The records stay in the outbox for the write at the end of the pass, whose failure is the pass's. */
  publishSoFar(): Promise<void> {
    return this.publish().catch(() => undefined);
  }
}

function describe(action: Action): string | undefined {
  if (action.kind === "upload") return action.ifMatch ? "replace" : "create";
  if (action.kind === "conflict")
    return `${action.winner} wins${action.keepLoser ? ", loser kept as a copy" : ""}`;
  return undefined;
}
