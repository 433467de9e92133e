import type { Config, SetConfig } from "../config/types.js";
import type { Datastore } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import { journalDamageHint } from "../journal/errors.js";
import type { Logger } from "../log/index.js";
import { IgnoreRulesInForce, loadSetIgnore } from "../reconcile/ignore-rules.js";
import { logPassSummary } from "../reconcile/summary.js";
import {
  describeProgress,
  GUARD_MIN_DELETIONS,
  runPass,
  type PassProblems,
  type PassResult,
  type PassScope,
  type RecentDeletions,
} from "../reconcile/pass.js";
import { BurstDetector } from "../watch/burst.js";
import { cursorAt } from "../reconcile/changelog.js";
import type { NotificationHealth } from "../watch/notifications.js";
import type { FileEvent } from "../watch/watcher.js";
import { IncomingChanges, KEYS_BEFORE_FULL_PASS } from "./incoming.js";
import { RootWatch } from "./root-watch.js";
import type { SetEvents } from "./set-events.js";
import { Backoff, isDatastoreTrouble, troubleLabel } from "./backoff.js";
import { DeletionSettler, outermost } from "./deletions.js";
import { sortPending } from "./pending-batch.js";
import { Timers } from "./timers.js";

/** How a set runner reports datastore trouble to the agent (one line per outage, not per set or retry). */
export interface Health {
  down(error: unknown): void;
  /** The datastore answered. How long to hold syncing still: it may be healing after an outage. */
  up(): number;
}

export interface SetRunnerDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  datastore: Datastore;
  logger: Logger;
  health: Health;
  /** Called whenever the set's one-line state changes. */
  onState: (state: string) => void;
  /** Called after each full pass with the entries it could not sync. */
  onProblems?: (problems: PassProblems) => void;
  /** Passes, applied changes and the notification stream, for metrics and hooks. */
  events: SetEvents;
  /** Called when the health of a lightweight set's bucket notifications changes. */
  onNotifications?: (health: NotificationHealth) => void;
}

/** Pending paths handled in one lightweight batch. */
const BATCH_LIMIT = 5000;
/** Tries of a batch of local changes whose pass left failed actions, before the safety pass takes over. */
const FAILED_FLUSH_RETRIES = 6;
/** Past `unmarked_deletion_delay`, when the keys whose deletion waited are looked at again. */
const RECHECK_MARGIN_MS = 1000;
/** When keys whose recorded change the bucket did not show yet are looked at again (then again, while shown not). */
const AWAITED_RECHECK_MS = 10_000;
/** Quiet time after a burst before the follow-up full pass. */
const BURST_QUIET_MS = 1000;
/** How often the set root is looked at, so a missing or replaced root is watched again soon after it is back. */
const ROOT_CHECK_MS = 5000;

/**
 * Runs one set: passes never overlap (one queue per set); heavyweight sets pass on their interval;
 * lightweight sets also follow file events (debounced into the durable pending table), bucket notifications
 * and the change log (IncomingChanges), with a full pass on start, after a burst, on a watcher error and
 * every safety interval.
 */
export class SetRunner {
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly timers = new Timers();
  private readonly root: RootWatch;
  /** A pass found no set root: passes wait until the root watch sees one. */
  private waitingForRoot = false;
  private flushTimer?: NodeJS.Timeout;
  private burstTimer?: NodeJS.Timeout;
  private burst: BurstDetector;
  /** Retries of a full pass while the datastore cannot be used; scheduled work waits for them meanwhile. */
  private readonly backoff = new Backoff();
  /** Flushes in a row whose pass left failed actions, and the wait before the next try. */
  private failedFlushes = 0;
  private readonly failedFlushBackoff = new Backoff();
  private retryTimer?: NodeJS.Timeout;
  private fullPassQueued = false;
  private listingRequested = false;
  private incoming?: IncomingChanges;
  /** Deletions by keys and subtree passes since the last full pass, for the deletion guard. */
  private recentDeletions: RecentDeletions = { local: 0, remote: 0 };
  private readonly deletions = new DeletionSettler();
  private readonly ignoreRules: IgnoreRulesInForce;
  private readonly logger: Logger;

  constructor(private readonly deps: SetRunnerDeps) {
    this.logger = deps.logger.child({ set: deps.set.name });
    this.burst = new BurstDetector(deps.set.burstThreshold);
    this.ignoreRules = new IgnoreRulesInForce(deps.set);
    this.root = new RootWatch({
      set: deps.set,
      logger: this.logger,
      events:
        deps.set.method === "lightweight"
          ? {
              ignored: (key) => this.ignoreRules.ignored(key),
              onEvents: (events) => this.onEvents(events),
              onError: (error) => {
                this.logger.warn(`watcher error, running a full pass: ${error.message}`);
                this.requestFullPass("watcher error");
              },
            }
          : undefined,
      onChanged: (reason) => {
        this.waitingForRoot = false;
        this.requestFullPass(reason);
      },
    });
  }

  get set(): SetConfig {
    return this.deps.set;
  }

  async start(): Promise<void> {
    await this.root.start();
    if (this.deps.set.method === "lightweight") {
      const { config, set, journal, datastore } = this.deps;
      this.incoming = new IncomingChanges({
        config,
        set,
        journal,
        datastore,
        logger: this.logger,
        enqueue: (task) => this.enqueue(task),
        syncKeys: (keys, reason, recorded) => this.runScoped({ kind: "keys", keys, recorded }, reason),
        requestFullPass: (reason) => this.requestFullPass(reason, true),
        held: () => this.retryTimer !== undefined,
        onHealth: (health) => {
          this.deps.events.notificationStream(health === "healthy");
          this.deps.onNotifications?.(health);
        },
      });
      this.incoming.start();
    }
    this.requestFullPass("start");
    this.timers.every(ROOT_CHECK_MS, () => void this.root.check());
    if (this.deps.set.method === "lightweight") {
      this.timers.every(this.deps.set.safetyIntervalMs, () => this.requestFullPass("safety interval"));
    } else {
      this.timers.every(this.deps.set.intervalMs, () => this.requestFullPass("interval"));
    }
  }

  /** Stops scheduling, then waits for the pass in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.stop();
    clearTimeout(this.retryTimer);
    clearTimeout(this.flushTimer);
    clearTimeout(this.burstTimer);
    this.incoming?.stop();
    await this.root.stop();
    await this.queue;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await task();
        this.backoff.reset();
        // While a retry waits, tasks return without reaching the datastore: they say nothing of it.
        if (!this.retryTimer) this.deps.health.up();
      } catch (error) {
        this.handleFailure(error);
      }
    });
    this.queue = next;
    return next;
  }

  private handleFailure(error: unknown) {
    if (isDatastoreTrouble(error)) {
      this.deps.health.down(error);
      if (this.retryTimer) return;
      const delayMs = this.backoff.next();
      this.deps.onState(`${troubleLabel(error)}; retrying in ${delayMs / 1000}s`);
      this.retryTimer = setTimeout(() => void this.retryAfterOutage(), delayMs);
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    const damage = journalDamageHint(error);
    this.logger.error(`pass failed: ${message}${damage ? `; ${damage}` : ""}`);
    if (!damage) this.deps.journal.updateSetState(this.deps.set.name, { lastError: message });
    this.deps.onState(`error: ${damage ?? message}`);
  }

  /**
   * Once the datastore answers again and its settle time (`settle_after_outage`) has passed, a full pass
   * that lists the bucket takes up whatever changed on either side meanwhile. Until then, nothing syncs.
   */
  private async retryAfterOutage() {
    try {
      await this.deps.datastore.check();
    } catch (error) {
      this.retryTimer = undefined;
      if (this.stopped) return;
      if (isDatastoreTrouble(error)) this.handleFailure(error);
      else this.resumeAfterOutage();
      return;
    }
    if (this.stopped) return;
    const settleMs = this.deps.health.up();
    if (settleMs <= 0) return this.resumeAfterOutage();
    this.deps.onState(`datastore back; syncing resumes in ${Math.ceil(settleMs / 1000)}s`);
    this.retryTimer = setTimeout(() => this.resumeAfterOutage(), settleMs);
  }

  private resumeAfterOutage() {
    this.retryTimer = undefined;
    this.requestFullPass("retry after outage", true);
    // Local changes that came meanwhile are found by that pass; the pending rows are flushed after it.
    if (this.deps.set.method === "lightweight") this.scheduleFlush(this.deps.set.debounceMs);
  }

  /**
   * Queues one full pass. `listing`: the pass must list the bucket, because it stands in for remote changes
   * already known (many notified keys, a change-log read whose records count as applied once handed over).
   */
  requestFullPass(reason: string, listing = false): void {
    if (listing) this.listingRequested = true;
    if (this.fullPassQueued || this.stopped || this.retryTimer) return;
    this.fullPassQueued = true;
    void this.enqueue(async () => {
      this.fullPassQueued = false;
      for (let wait = this.deletions.waitMs(); wait > 0; wait = this.deletions.waitMs()) {
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      // Queued before an outage began: the retry's full pass stands in for it, and the cursor stays.
      if (this.retryTimer) return;
      const started = Date.now();
      const fullListing = this.listingRequested;
      this.listingRequested = false;
      await this.runScoped({ kind: "full" }, reason, fullListing);
      const cursor = cursorAt(this.deps.set.name, started);
      this.incoming?.setCursor(cursor);
      this.deps.journal.updateSetState(this.deps.set.name, { lastLogKey: cursor });
    });
  }

  private async runScoped(scope: PassScope, reason: string, fullListing = false): Promise<boolean> {
    const { set } = this.deps;
    // The failing state stays shown; the root watch runs a full pass as soon as the root is back.
    if (this.waitingForRoot) return false;
    // After an outage, the retry's full pass takes up what this pass would have.
    if (this.retryTimer) return false;
    const label =
      scope.kind === "full"
        ? "full pass"
        : scope.kind === "subtree"
          ? `scanning ${scope.dirKey}`
          : `syncing ${scope.keys.length} change(s)`;
    this.deps.onState(label);
    const { events } = this.deps;
    const ignore = await loadSetIgnore(set, this.logger);
    // Only a scan finds what a rule no longer ignores (or what passes stopped by a bad ignore file missed).
    if (this.ignoreRules.update(ignore) && scope.kind !== "full")
      this.requestFullPass("the ignore rules changed");
    const started = Date.now();
    events.passStarted(scope);
    const result: PassResult = await runPass(
      {
        config: this.deps.config,
        set,
        journal: this.deps.journal,
        datastore: this.deps.datastore,
        logger: this.deps.logger,
      },
      {
        scope,
        onProgress: (progress) => this.deps.onState(`${label}: ${describeProgress(progress)}`),
        recentDeletions: this.recentDeletions,
        onApplied: (entry) => events.applied(entry),
        ignore,
        fullListing,
      },
    ).catch((error: unknown) => {
      events.passFailed(scope, Date.now() - started);
      throw error;
    });
    events.passFinished(scope, result);
    const c = result.counts;
    if (scope.kind === "full" && !result.error) this.recentDeletions = { local: 0, remote: 0 };
    else {
      this.recentDeletions.local += c.deletedLocal;
      this.recentDeletions.remote += c.deletedRemote;
    }
    logPassSummary(this.logger, result, true);
    if (set.method === "lightweight") {
      // No event will come for these: they are looked at again later.
      this.recheck(result.awaitingDeletion, this.deps.config.unmarkedDeletionDelayMs + RECHECK_MARGIN_MS);
      this.recheck(result.awaitedChanges, AWAITED_RECHECK_MS);
    }
    if (scope.kind === "full") this.logger.debug(`full pass (${reason}) done`);
    if (scope.kind === "full" && !result.error) this.deps.onProblems?.(result.problems);
    // Also re-arms the watch at once on a root this pass created (`create: true`).
    if (!(await this.root.check()) && result.error) this.waitingForRoot = true;
    this.deps.onState(
      result.error ? `${result.guardTripped ? "stopped" : "failing"}: ${result.error}` : "idle",
    );
    return result.ok;
  }

  private recheck(keys: string[], delayMs: number) {
    if (keys.length === 0) return;
    this.timers.after(delayMs, () =>
      this.enqueue(async () => void (await this.runScoped({ kind: "keys", keys }, "looking again"))),
    );
  }

  private onEvents(events: FileEvent[]) {
    const { journal, set } = this.deps;
    journal.transaction(() => {
      for (const event of events) journal.addPending(set.name, event.path, event.type);
    });
    if (events.some((event) => event.type === "delete")) this.deletions.deletionSeen();
    if (this.burst.record(events.length)) {
      clearTimeout(this.burstTimer);
      this.burstTimer = setTimeout(() => this.requestFullPass("after a burst of events"), BURST_QUIET_MS);
    }
    this.scheduleFlush(set.debounceMs);
  }

  private scheduleFlush(delayMs: number) {
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      void this.enqueue(() => this.flushPending());
    }, delayMs);
  }

  /** Syncs the paths the watcher reported. */
  private async flushPending() {
    const { journal, set } = this.deps;
    // The paths stay pending; the retry flushes them after its full pass.
    if (this.retryTimer) return;
    const settling = this.deletions.waitMs();
    if (settling > 0) {
      this.scheduleFlush(settling);
      return;
    }
    const pending = journal.transaction(() => {
      const rows = journal.pendingPaths(set.name, BATCH_LIMIT);
      journal.removePending(
        set.name,
        rows.map((row) => row.path),
      );
      return rows;
    });
    if (pending.length === 0) return;
    if (pending.length >= KEYS_BEFORE_FULL_PASS) {
      // Two HEADs per key cost more than listing the set 1,000 keys a request: scan it all instead.
      this.requestFullPass(`${pending.length} local changes at once`);
      return;
    }
    const { keys, subtrees, gone, unwatched } = await sortPending(journal, set.name, set.path, pending);
    if (gone > GUARD_MIN_DELETIONS) {
      // Many deletions are judged by the guard of one full pass, not spread over keys and subtree passes.
      this.requestFullPass(`${gone} local deletions at once`);
      return;
    }
    const requeue = () =>
      journal.transaction(() => {
        for (const row of pending) journal.addPending(set.name, row.path, row.reason);
      });
    if (unwatched) {
      // Watched afresh before the scans of these keys; a full pass covers what changed in between.
      await this.root.rearm();
      this.requestFullPass("new directories inside a new directory");
    }
    let ok = true;
    try {
      if (keys.length > 0) ok = await this.runScoped({ kind: "keys", keys }, "file events");
      for (const dirKey of outermost(subtrees))
        ok = (await this.runScoped({ kind: "subtree", dirKey }, "directory event")) && ok;
    } catch (error) {
      requeue();
      throw error;
    }
    // An action that failed (a download whose object changed under it, say) is tried again soon, not left
    // to the safety pass; the keys that went well cost a look-up each. After a few tries the safety pass
    // takes over, so a key that keeps failing does not cost requests for ever.
    if (!ok && this.failedFlushes < FAILED_FLUSH_RETRIES) {
      this.failedFlushes++;
      requeue();
      this.scheduleFlush(this.failedFlushBackoff.next());
      return;
    }
    this.failedFlushes = 0;
    this.failedFlushBackoff.reset();
    if (journal.countPending(set.name) > 0) this.scheduleFlush(set.debounceMs);
  }
}
