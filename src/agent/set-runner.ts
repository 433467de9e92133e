import { lstat } from "node:fs/promises";
import type { Config, SetConfig } from "../config/types.js";
import type { Datastore } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import { journalDamageHint } from "../journal/errors.js";
import type { Logger } from "../log/index.js";
import { IgnoreRulesInForce, loadSetIgnore } from "../reconcile/ignore-rules.js";
import { absolutePath } from "../reconcile/localfs.js";
import {
  GUARD_MIN_DELETIONS,
  runPass,
  type PassResult,
  type PassScope,
  type RecentDeletions,
} from "../reconcile/pass.js";
import { BurstDetector } from "../watch/burst.js";
import { cursorAt, readChangeLog } from "../watch/changelog.js";
import { watchTree, type FileEvent, type TreeWatch } from "../watch/watcher.js";
import { compareKeys } from "../scan/entry.js";
import { objectKeyToEntryKey } from "../scan/keys.js";
import { logPassSummary } from "../cli/sync.js";

/** How a set runner reports datastore trouble to the agent (one line per outage, not per set or retry). */
export interface Health {
  down(error: unknown): void;
  up(): void;
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
}

const MAX_BACKOFF_MS = 60_000;
/** Pending paths handled in one lightweight batch. */
const BATCH_LIMIT = 5000;
/** From this many changed keys on, a full pass (a listing) is cheaper than looking each key up. */
const KEYS_BEFORE_FULL_PASS = 500;
/**
 * Local deletions are acted on only once no deletion event came for this long, so an `rm -rf` reaches one
 * pass whole, where the deletion guard can judge it, instead of a few files at a time. A set whose files
 * are deleted without pause waits at most DELETIONS_SETTLE_MAX_MS.
 */
const DELETIONS_SETTLE_MS = 500;
const DELETIONS_SETTLE_MAX_MS = 5000;
/** Notifications arriving within this window are synced together. */
const REMOTE_BATCH_MS = 50;
/** Quiet time after a burst before the follow-up full pass. */
const BURST_QUIET_MS = 1000;

function jittered(ms: number): number {
  return Math.round(ms * (0.9 + Math.random() * 0.2));
}

/** Whether an error means the datastore could not be reached (as opposed to a bug or a bad file). */
function isOutage(error: unknown): boolean {
  const kind = (error as { kind?: string }).kind;
  if (kind === "unreachable") return true;
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EPIPE";
}

/**
 * Runs one set: passes never overlap (one queue per set); heavyweight sets pass on their interval;
 * lightweight sets also follow file events (debounced into the durable pending table) and the change log,
 * with a full pass on start, after a burst, on a watcher error and every safety interval.
 */
export class SetRunner {
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();
  private watch?: TreeWatch;
  private flushTimer?: NodeJS.Timeout;
  private burstTimer?: NodeJS.Timeout;
  private burst: BurstDetector;
  private backoffMs = 0;
  private fullPassQueued = false;
  private logCursor?: string;
  private listener?: { close(): void };
  private listenBackoffMs = 0;
  private remoteKeys = new Set<string>();
  private remoteTimer?: NodeJS.Timeout;
  /** Deletions by keys and subtree passes since the last full pass, for the deletion guard. */
  private recentDeletions: RecentDeletions = { local: 0, remote: 0 };
  private lastDeletionEventAt = 0;
  private settlingSince?: number;
  private remoteBatchRunning = false;
  private readonly ignoreRules: IgnoreRulesInForce;
  private readonly logger: Logger;

  constructor(private readonly deps: SetRunnerDeps) {
    this.logger = deps.logger.child({ set: deps.set.name });
    this.burst = new BurstDetector(deps.set.burstThreshold);
    this.ignoreRules = new IgnoreRulesInForce(deps.set);
  }

  get set(): SetConfig {
    return this.deps.set;
  }

  async start(): Promise<void> {
    if (this.deps.set.method === "lightweight") {
      await this.startWatching();
      this.listen();
    }
    this.requestFullPass("start");
    if (this.deps.set.method === "lightweight") {
      this.every(this.deps.set.pollIntervalMs, () => this.enqueue(() => this.pollChangeLog()));
      this.every(this.deps.set.safetyIntervalMs, () => this.requestFullPass("safety interval"));
    } else {
      this.every(this.deps.set.intervalMs, () => this.requestFullPass("interval"));
    }
  }

  /** Stops scheduling, then waits for the pass in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    clearTimeout(this.flushTimer);
    clearTimeout(this.burstTimer);
    clearTimeout(this.remoteTimer);
    this.listener?.close();
    await this.watch?.close().catch(() => undefined);
    await this.queue;
  }

  /**
   * Follows the bucket's notifications for the set's prefix: the fast incoming path. Objects this machine
   * already has (its own uploads, by ETag) are skipped; the rest are synced in small batches. The stream is
   * best effort, so a break only means a reconnect with backoff; the change-log poll covers the gap.
   */
  private listen() {
    const { datastore, set, journal } = this.deps;
    this.listener = datastore.listen(
      set.prefix,
      (objectKey, etag) => {
        this.listenBackoffMs = 0;
        const mapped = objectKeyToEntryKey(set.prefix, objectKey);
        if ("refused" in mapped) return;
        if (etag && journal.getFile(set.name, mapped.key)?.remoteEtag === etag) return;
        this.remoteKeys.add(mapped.key);
        this.scheduleRemoteBatch();
      },
      (error) => {
        if (this.stopped) return;
        this.listenBackoffMs = Math.min(MAX_BACKOFF_MS, Math.max(1000, this.listenBackoffMs * 2));
        this.logger.debug(`bucket notifications interrupted (${error.message}); reconnecting`);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (!this.stopped) this.listen();
        }, this.listenBackoffMs);
        this.timers.add(timer);
      },
    );
  }

  /**
   * Hands the notified keys over once the previous batch is done, so a stream of notifications during a
   * burst collects into large batches (and then into one full pass) instead of many small lookups.
   */
  private scheduleRemoteBatch() {
    this.remoteTimer ??= setTimeout(() => {
      this.remoteTimer = undefined;
      if (this.remoteBatchRunning) {
        this.scheduleRemoteBatch();
        return;
      }
      const keys = [...this.remoteKeys];
      this.remoteKeys.clear();
      if (keys.length >= KEYS_BEFORE_FULL_PASS) {
        this.requestFullPass(`${keys.length} remote changes at once`);
        return;
      }
      this.remoteBatchRunning = true;
      void this.enqueue(() => this.runScoped({ kind: "keys", keys }, "bucket notification")).finally(
        () => (this.remoteBatchRunning = false),
      );
    }, REMOTE_BATCH_MS);
  }

  private every(intervalMs: number, fn: () => void) {
    const schedule = () => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.stopped) return;
        fn();
        schedule();
      }, jittered(intervalMs));
      this.timers.add(timer);
    };
    schedule();
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => {
      if (this.stopped) return;
      try {
        await task();
        // Also after an outage found by the agent's start-up check rather than by this runner.
        this.backoffMs = 0;
        this.deps.health.up();
      } catch (error) {
        this.handleFailure(error);
      }
    });
    this.queue = next;
    return next;
  }

  private handleFailure(error: unknown) {
    if (isOutage(error)) {
      this.deps.health.down(error);
      this.backoffMs = Math.min(MAX_BACKOFF_MS, Math.max(1000, this.backoffMs * 2));
      this.deps.onState(`datastore unreachable; retrying in ${Math.round(this.backoffMs / 1000)}s`);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.requestFullPass("retry after outage");
      }, this.backoffMs);
      this.timers.add(timer);
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    const damage = journalDamageHint(error);
    this.logger.error(`pass failed: ${message}${damage ? `; ${damage}` : ""}`);
    if (!damage) this.deps.journal.updateSetState(this.deps.set.name, { lastError: message });
    this.deps.onState(`error: ${damage ?? message}`);
  }

  requestFullPass(reason: string): void {
    if (this.fullPassQueued || this.stopped) return;
    this.fullPassQueued = true;
    void this.enqueue(async () => {
      this.fullPassQueued = false;
      for (let wait = this.deletionsSettling(); wait > 0; wait = this.deletionsSettling()) {
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const started = Date.now();
      await this.runScoped({ kind: "full" }, reason);
      this.logCursor = cursorAt(this.deps.set.name, started);
      this.deps.journal.updateSetState(this.deps.set.name, { lastLogKey: this.logCursor });
    });
  }

  private async runScoped(scope: PassScope, reason: string): Promise<void> {
    const { set } = this.deps;
    const label =
      scope.kind === "full"
        ? "full pass"
        : scope.kind === "subtree"
          ? `scanning ${scope.dirKey}`
          : `syncing ${scope.keys.length} change(s)`;
    this.deps.onState(label);
    const ignore = await loadSetIgnore(set, this.logger);
    // Only a scan finds what a rule no longer ignores (or what passes stopped by a bad ignore file missed).
    if (this.ignoreRules.update(ignore) && scope.kind !== "full")
      this.requestFullPass("the ignore rules changed");
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
        onProgress: (text) => this.deps.onState(`${label}: ${text}`),
        recentDeletions: this.recentDeletions,
        ignore,
      },
    );
    const c = result.counts;
    if (scope.kind === "full" && !result.error) this.recentDeletions = { local: 0, remote: 0 };
    else {
      this.recentDeletions.local += c.deletedLocal;
      this.recentDeletions.remote += c.deletedRemote;
    }
    const busy = c.uploaded + c.downloaded + c.deletedLocal + c.deletedRemote + c.conflicts + c.failed > 0;
    if (scope.kind === "full" || busy || result.error) {
      logPassSummary(this.logger, result);
      if (scope.kind === "full") this.logger.debug(`full pass (${reason}) done`);
    }
    this.deps.onState(result.error ? `stopped: ${result.error}` : "idle");
  }

  private async startWatching() {
    const { set } = this.deps;
    try {
      this.watch = await watchTree(
        set.path,
        (key) => this.ignoreRules.ignored(key),
        (events) => this.onEvents(events),
        (error) => {
          this.logger.warn(`watcher error, running a full pass: ${error.message}`);
          this.requestFullPass("watcher error");
        },
      );
    } catch (error) {
      this.logger.error(
        `cannot watch ${set.path}: ${error instanceof Error ? error.message : String(error)}; relying on passes`,
      );
    }
  }

  private onEvents(events: FileEvent[]) {
    const { journal, set } = this.deps;
    journal.transaction(() => {
      for (const event of events) journal.addPending(set.name, event.path, event.type);
    });
    if (events.some((event) => event.type === "delete")) this.lastDeletionEventAt = Date.now();
    if (this.burst.record(events.length)) {
      clearTimeout(this.burstTimer);
      this.burstTimer = setTimeout(() => this.requestFullPass("after a burst of events"), BURST_QUIET_MS);
    }
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        void this.enqueue(() => this.flushPending());
      }, set.debounceMs);
    }
  }

  /** How long to wait for local deletions to stop arriving (0: go ahead). */
  private deletionsSettling(): number {
    const now = Date.now();
    const quietIn = this.lastDeletionEventAt + DELETIONS_SETTLE_MS - now;
    this.settlingSince ??= now;
    const wait = Math.min(quietIn, this.settlingSince + DELETIONS_SETTLE_MAX_MS - now);
    if (wait <= 0) this.settlingSince = undefined;
    return Math.max(0, wait);
  }

  /** Syncs the paths the watcher reported: files by key, directories (created or deleted) by subtree. */
  private async flushPending() {
    const { journal, set } = this.deps;
    const settling = this.deletionsSettling();
    if (settling > 0) {
      this.flushTimer ??= setTimeout(() => {
        this.flushTimer = undefined;
        void this.enqueue(() => this.flushPending());
      }, settling);
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
    const keys: string[] = [];
    const subtrees: string[] = [];
    let gone = 0;
    for (const { path } of pending) {
      const isDir = await lstat(absolutePath(set.path, path)).then(
        (stats) => stats.isDirectory(),
        () => {
          gone++;
          return false;
        },
      );
      if (isDir || journal.getFile(set.name, `${path}/`)) {
        subtrees.push(`${path}/`);
        keys.push(`${path}/`);
      }
      if (!isDir) keys.push(path);
    }
    if (gone > GUARD_MIN_DELETIONS) {
      // Many deletions are judged by the guard of one full pass, not spread over keys and subtree passes.
      this.requestFullPass(`${gone} local deletions at once`);
      return;
    }
    try {
      if (keys.length > 0) await this.runScoped({ kind: "keys", keys }, "file events");
      for (const dirKey of outermost(subtrees))
        await this.runScoped({ kind: "subtree", dirKey }, "directory event");
    } catch (error) {
      journal.transaction(() => {
        for (const row of pending) journal.addPending(set.name, row.path, row.reason);
      });
      throw error;
    }
    if (journal.countPending(set.name) > 0) {
      this.flushTimer ??= setTimeout(() => {
        this.flushTimer = undefined;
        void this.enqueue(() => this.flushPending());
      }, set.debounceMs);
    }
  }

  private async pollChangeLog() {
    const { journal, datastore, set, config } = this.deps;
    this.logCursor ??= journal.getSetState(set.name).lastLogKey ?? cursorAt(set.name, Date.now());
    const batch = await readChangeLog(
      datastore,
      journal,
      set.name,
      config.machine,
      this.logCursor,
      config.clockSkewMs,
    );
    if (batch.paths.length >= KEYS_BEFORE_FULL_PASS)
      this.requestFullPass(`${batch.paths.length} remote changes at once`);
    else if (batch.paths.length > 0) await this.runScoped({ kind: "keys", keys: batch.paths }, "change log");
    journal.transaction(() => {
      for (const record of batch.records) journal.markLogApplied(set.name, record);
    });
    if (batch.cursor) {
      this.logCursor = batch.cursor;
      journal.updateSetState(set.name, { lastLogKey: batch.cursor });
      journal.pruneAppliedLog(set.name, cursorAt(set.name, Date.now() - config.logRetentionMs));
    }
  }
}

/** Directory keys not inside another one of the list. */
function outermost(dirKeys: string[]): string[] {
  const sorted = [...new Set(dirKeys)].sort(compareKeys);
  const result: string[] = [];
  for (const key of sorted) {
    if (!result.some((outer) => key.startsWith(outer))) result.push(key);
  }
  return result;
}
