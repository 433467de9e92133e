import { DatastoreError, isDatastoreUnusable, PreconditionFailedError } from "../datastore/errors.js";
import { ActionContext, type ExecutorDeps } from "./actions/context.js";
import { conflict, mergeMeta } from "./actions/conflict.js";
import { deleteLocal, deleteRemote, forget } from "./actions/delete.js";
import { download, downloadStricter } from "./actions/download.js";
import { keepLocal, record } from "./actions/record.js";
import { keepUnconfirmed } from "./actions/unconfirmed.js";
import { upload } from "./actions/upload.js";
import type { PassCounts } from "./counts.js";
import type { PassItem } from "./item.js";
import { BlockedError, RefusedError } from "./localfs.js";
import type { Action } from "./planner.js";

/**
 * Carries out planned actions against the local tree, the bucket and the journal (actions/: each action
 * applies its effects and records them, in the journal, the audit trail and the counts, as it goes).
 */
export class Executor {
  private readonly context: ActionContext;
  /**
   * Set when an action found the datastore unusable (unreachable, credentials rejected...): the pass stops
   * starting new work and reports this one error instead of one per action.
   */
  outage?: DatastoreError;

  constructor(private readonly deps: ExecutorDeps) {
    this.context = new ActionContext(deps);
  }

  get counts(): PassCounts {
    return this.context.counts;
  }

  /** Changes written to the bucket whose records wait in the journal's outbox for the next change-log object. */
  get unpublished(): number {
    return this.context.unpublished;
  }

  /** The outbox's records are being written as a change-log object. */
  published(): void {
    this.context.unpublished = 0;
  }

  /**
   * Runs one action; failures are logged and counted, never thrown. Returned for the caller to act on: a
   * blocked action (to retry at the end of the pass), and a conditional write whose condition failed because
   * the object is no longer the one planned from (to plan the key again, or give it up with `lostRace`).
   */
  async run(item: PassItem, action: Action): Promise<"done" | "blocked" | "lost-race"> {
    try {
      await this.dispatch(item, action);
      return "done";
    } catch (error) {
      if (error instanceof BlockedError) return "blocked";
      if (error instanceof PreconditionFailedError) return "lost-race";
      this.fail(item.key, action.kind, error);
      return "done";
    }
  }

  /** Like run, but a blocked action counts as failed and a lost race is given up (the last try in a pass). */
  async runFinal(item: PassItem, action: Action): Promise<void> {
    const outcome = await this.run(item, action);
    if (outcome === "lost-race") this.lostRace(item.key, action.kind);
    if (outcome === "blocked") {
      this.fail(item.key, action.kind, new Error("the path is still occupied; retrying next pass"));
    }
  }

  /** A key whose object kept changing under this pass: the next pass takes it up. */
  lostRace(key: string, kind: string): void {
    this.deps.logger.debug("the object changed again while being written; reconciling next pass", {
      path: key,
      action: kind,
    });
    this.counts.skipped++;
  }

  private fail(key: string, kind: string, error: unknown) {
    if (isDatastoreUnusable(error)) {
      this.outage ??= error;
      return;
    }
    this.counts.failed++;
    const message = error instanceof Error ? error.message : String(error);
    const level = error instanceof RefusedError ? "warn" : "error";
    this.deps.logger[level](`${kind} failed: ${message}`, { path: key, action: kind });
  }

  private async dispatch(item: PassItem, action: Action): Promise<void> {
    const context = this.context;
    switch (action.kind) {
      case "none":
        return;
      case "record":
        return record(context, item);
      case "upload":
        await upload(context, item, item.key, action.ifMatch, action.dropTombstone);
        return;
      case "download":
        if (await keepUnconfirmed(context, item)) return;
        if (action.mode !== undefined) return downloadStricter(context, item, action.mode);
        return download(context, item, item.key, item.entry ?? null);
      case "merge-meta":
        return mergeMeta(context, item, action.mode, action.mtimeMs, action.ifMatch);
      case "delete-remote":
        return deleteRemote(context, item);
      case "delete-local":
        return deleteLocal(context, item);
      case "keep-local":
        return keepLocal(context, item);
      case "forget":
        return forget(context, item);
      case "conflict":
        return conflict(context, item, action.winner, action.keepLoser, action.mode);
    }
  }

  /** A pass stopped by a guard: one error line, and a row in the history. */
  recordGuardTrip(message: string): void {
    this.context.audit.record(
      { path: "", action: "guard-trip", origin: this.deps.config.machine, detail: message },
      { level: "error", message },
    );
  }
}
