import type { SetState } from "../../journal/types.js";
import type { Logger } from "../../log/index.js";
import { Executor } from "../executor.js";
import { OwnerNames } from "../owners.js";
import type { BucketView, PassScope } from "../sources.js";
import type { PassDeps, PassOptions, PassProblems, PassResult, PlannedAction } from "./types.js";

/** One pass as it goes: what every step reads, and what the result is made of. */
export class PassRun {
  readonly now: () => number;
  readonly started: number;
  readonly scope: PassScope;
  readonly full: boolean;
  readonly dryRun: boolean;
  readonly logger: Logger;
  readonly owners: OwnerNames;
  readonly executor: Executor;
  /** The set's state as the pass began. */
  readonly state: SetState;
  readonly catchUp: boolean;
  hashed = 0;
  readonly planned: PlannedAction[] = [];
  readonly problems: PassProblems = { count: 0 };
  readonly awaitingDeletion: string[] = [];
  readonly awaitedChanges: string[] = [];
  bucket: BucketView = "listing";

  constructor(
    readonly deps: PassDeps,
    public options: PassOptions,
  ) {
    const { set, journal, config } = deps;
    this.now = deps.now ?? Date.now;
    this.started = this.now();
    this.scope = options.scope ?? { kind: "full" };
    this.full = this.scope.kind === "full";
    this.dryRun = options.dryRun === true;
    this.logger = deps.logger.child({ set: set.name });
    this.owners = deps.owners ?? new OwnerNames();
    const { logger, owners, now } = this;
    this.executor = new Executor({ ...deps, logger, owners, now, onApplied: options.onApplied });
    this.state = journal.getSetState(set.name);
    this.catchUp =
      this.full &&
      this.state.lastGoodSync !== null &&
      this.started - this.state.lastGoodSync > Math.min(config.offlineAfterMs, config.logRetentionMs);
  }

  interrupted(): boolean {
    return this.options.signal?.aborted === true;
  }

  result(error?: string, changeLogKey?: string, guardTripped = error !== undefined): PassResult {
    return {
      set: this.deps.set.name,
      ok: error === undefined && this.executor.counts.failed === 0 && !this.interrupted(),
      error,
      guardTripped,
      catchUp: this.catchUp,
      counts: this.executor.counts,
      hashed: this.hashed,
      durationMs: this.now() - this.started,
      planned: this.planned,
      changeLogKey,
      problems: this.problems,
      interrupted: this.interrupted(),
      bucket: this.bucket,
      awaitingDeletion: this.awaitingDeletion,
      awaitedChanges: this.awaitedChanges,
    };
  }

  /** A guard stopped the pass. */
  trip(message: string): PassResult {
    if (this.dryRun) {
      this.logger.error(`${message} (dry run: nothing changed)`);
      return this.result(message);
    }
    this.executor.recordGuardTrip(message);
    this.deps.journal.updateSetState(this.deps.set.name, { lastError: message });
    return this.result(message);
  }

  /** Transfers cut by an outage may have landed without their journal rows: the next pass lists the bucket. */
  outage(error: Error): Error {
    if (!this.dryRun) {
      this.deps.journal.updateSetState(this.deps.set.name, {
        lastError: `datastore lost during the pass: ${error.message}`,
      });
    }
    return error;
  }
}
