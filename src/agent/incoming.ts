import { formatDuration } from "../config/index.js";
import type { Config, SetConfig } from "../config/types.js";
import { decodeEntryMeta, eventKeyCandidates, type BucketEvent, type Datastore } from "../datastore/index.js";
import type { DatastoreError } from "../datastore/errors.js";
import type { Journal } from "../journal/journal.js";
import { logOnce, type Logger } from "../log/index.js";
import { objectKeyToEntryKey } from "../scan/keys.js";
import {
  cursorAt,
  readChangeLog,
  recordMachine,
  recordTime,
  type RecordedChange,
} from "../reconcile/changelog.js";
import { refreshHeartbeat } from "../reconcile/heartbeat.js";
import { NotificationFollower, type NotificationHealth } from "../watch/notifications.js";
import { jittered } from "./jitter.js";

/** While bucket notifications are healthy the change log is only a safety net, read this rarely. */
export const LISTENING_POLL_MS = 30_000;
/** From this many changed keys on, a full pass (a listing) is cheaper than looking each key up. */
export const KEYS_BEFORE_FULL_PASS = 500;
/** Between full passes the heartbeat is rewritten after applying others' changes, at most this often. */
export const HEARTBEAT_REFRESH_MS = 30_000;
/** Notifications arriving within this window are synced together. */
const NOTIFIED_BATCH_MS = 10;
/** Reads in a row of change-log records whose paths did not all sync, before they count as applied anyway. */
const FAILED_READ_RETRIES = 6;

/** What a notification said of a key, kept small: a burst can notify a few hundred thousand keys. */
interface Notified {
  removed: boolean;
  etag?: string;
  /** The object's `fedsync-origin` names this machine. */
  fromHere: boolean;
}

export interface IncomingDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  datastore: Datastore;
  /** The set's logger. */
  logger: Logger;
  /** Runs a task in the set's queue, after the passes before it. */
  enqueue(task: () => Promise<void>): Promise<void>;
  /** Syncs these keys; false when an action failed. */
  /** `recorded`: what other writers' change-log records say the keys hold, for the pass to check. */
  syncKeys(keys: string[], reason: string, recorded?: RecordedChange[]): Promise<boolean>;
  requestFullPass(reason: string): void;
  onHealth(health: NotificationHealth): void;
  /**
   * True while the set waits to retry after an outage: keys and records wait too (a record given up on
   * would be marked applied unchecked, and the retry's full pass reads those not applied).
   */
  held(): boolean;
}

/**
 * The incoming side of a lightweight set: the bucket's notifications for the set's prefix, synced by key as
 * they arrive, and the change log, read every `poll_interval` while notifications are down or unsupported
 * and every LISTENING_POLL_MS while they are healthy.
 */
export class IncomingChanges {
  private readonly follower: NotificationFollower;
  /** Notified entry keys not synced yet, with what the newest event of each said. */
  private notified = new Map<string, Notified>();
  private batchTimer?: NodeJS.Timeout;
  private batchQueued = false;
  private pollTimer?: NodeJS.Timeout;
  private pollQueued = false;
  private cursor?: string;
  private failedReads = 0;
  private everHealthy = false;
  private stopped = false;
  /** A change-log read applied others' records that no heartbeat has told the federation of yet. */
  private heartbeatDue = false;
  private heartbeatAt = 0;

  constructor(private readonly deps: IncomingDeps) {
    this.follower = new NotificationFollower(deps.datastore, deps.set.prefix, {
      onEvents: (events) => this.onEvents(events),
      onHealth: (health, error) => this.onHealth(health, error),
    });
  }

  start(): void {
    this.follower.start();
    this.pollSoon(jittered(this.pollInterval()));
  }

  stop(): void {
    this.stopped = true;
    this.follower.stop();
    clearTimeout(this.batchTimer);
    clearTimeout(this.pollTimer);
  }

  /** A full pass applied everything up to `cursor`: the change log is read on from there. */
  setCursor(cursor: string): void {
    this.cursor = cursor;
  }

  private pollInterval(): number {
    const fallback = this.deps.set.pollIntervalMs;
    return this.follower.health === "healthy" ? Math.max(LISTENING_POLL_MS, fallback) : fallback;
  }

  private onHealth(health: NotificationHealth, error: DatastoreError | undefined) {
    const { logger } = this.deps;
    const polling = `polling the change log every ${formatDuration(this.pollInterval())}`;
    if (health === "healthy") {
      if (this.everHealthy) logger.info(`bucket notifications back; ${polling}`);
      else logger.debug(`following bucket notifications; ${polling}`);
      this.everHealthy = true;
    } else if (health === "unsupported") {
      const hint = error?.kind === "auth" ? " (grant s3:ListenBucketNotification to use them)" : "";
      logger.warn(`no bucket notifications: ${error?.message}${hint}; ${polling}`);
    } else if (this.everHealthy) {
      logger.info(`bucket notifications interrupted: ${error?.message}; ${polling} until they are back`);
    }
    this.deps.onHealth(health);
    // The change log covers what the stream may have missed around the change.
    this.pollSoon(0);
  }

  private onEvents(events: BucketEvent[]) {
    const { set, logger, config } = this.deps;
    for (const event of events) {
      const said: Notified = {
        removed: event.removed,
        etag: event.etag,
        fromHere: decodeEntryMeta(event.metadata)?.meta?.origin === config.machine,
      };
      const [raw, ...decoded] = eventKeyCandidates(event.key);
      const mapped = objectKeyToEntryKey(set.prefix, raw!);
      if ("refused" in mapped) {
        const reason = mapped.refused;
        logOnce(logger, `refused:${raw}`, "warn", `skipping object ${JSON.stringify(raw)}: ${reason}`);
      } else this.notified.set(mapped.key, said);
      for (const candidate of decoded) {
        const other = objectKeyToEntryKey(set.prefix, candidate);
        if (!("refused" in other)) this.notified.set(other.key, said);
      }
    }
    this.scheduleBatch();
  }

  /** One batch at a time: keys notified while one waits or runs go into the next. */
  private scheduleBatch() {
    if (this.batchTimer || this.batchQueued || this.stopped || this.notified.size === 0) return;
    this.batchTimer = setTimeout(() => {
      this.batchTimer = undefined;
      this.batchQueued = true;
      void this.deps
        .enqueue(() => this.syncNotified())
        .finally(() => {
          this.batchQueued = false;
          this.scheduleBatch();
        });
    }, NOTIFIED_BATCH_MS);
  }

  private async syncNotified() {
    if (this.deps.held()) return;
    const keys = [...this.notified].filter(([key, said]) => !this.alreadyHere(key, said)).map(([key]) => key);
    this.notified.clear();
    if (keys.length >= KEYS_BEFORE_FULL_PASS)
      this.deps.requestFullPass(`${keys.length} remote changes at once`);
    else if (keys.length > 0 && !(await this.deps.syncKeys(keys, "bucket notification"))) {
      // The change log holds a record of each of these writes: its next read tries them again.
      this.pollSoon(this.deps.set.pollIntervalMs);
    }
  }

  /**
   * This machine's own upload coming back (its ETag and origin; the ETag alone would also match another
   * machine's chmod of the same bytes), or the removal of an object it has no record of.
   */
  private alreadyHere(key: string, said: Notified): boolean {
    const row = this.deps.journal.getFile(this.deps.set.name, key);
    if (said.removed) return row === undefined;
    return said.fromHere && row?.remoteEtag === said.etag;
  }

  private pollSoon(delayMs: number) {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => this.poll(), delayMs);
  }

  private poll() {
    this.pollTimer = undefined;
    if (this.stopped || this.pollQueued) return;
    this.pollQueued = true;
    void this.deps
      .enqueue(async () => {
        this.pollQueued = false;
        await this.pollChangeLog();
      })
      .finally(() => {
        this.pollQueued = false;
        if (!this.stopped && this.pollTimer === undefined) this.pollSoon(jittered(this.pollInterval()));
      });
  }

  private async pollChangeLog() {
    if (this.deps.held()) return;
    const { journal, datastore, set, config } = this.deps;
    this.cursor ??= journal.getSetState(set.name).lastLogKey ?? cursorAt(set.name, Date.now());
    const batch = await readChangeLog(
      datastore,
      journal,
      set.name,
      config.machine,
      this.cursor,
      config.clockSkewMs,
    );
    const paths = batch.changes.map((change) => change.path);
    if (paths.length >= KEYS_BEFORE_FULL_PASS)
      this.deps.requestFullPass(`${paths.length} remote changes at once`);
    else if (paths.length > 0 && !(await this.deps.syncKeys(paths, "change log", batch.changes))) {
      // Neither applied nor passed by the cursor, the records are read and tried again, a few times: then
      // the safety pass takes over, so a path that keeps failing does not cost requests for ever.
      if (++this.failedReads < FAILED_READ_RETRIES) {
        this.pollSoon(this.deps.set.pollIntervalMs);
        return;
      }
    }
    this.failedReads = 0;
    journal.transaction(() => {
      for (const record of batch.records) journal.markLogApplied(set.name, record);
    });
    if (batch.cursor) {
      this.cursor = batch.cursor;
      const through = Math.max(
        recordTime(set.name, batch.cursor) ?? 0,
        journal.getSetState(set.name).appliedThrough ?? 0,
      );
      journal.updateSetState(set.name, { lastLogKey: batch.cursor, appliedThrough: through });
      journal.pruneAppliedLog(set.name, cursorAt(set.name, Date.now() - config.logRetentionMs));
    }
    if (batch.records.some((key) => recordMachine(set.name, key) !== config.machine))
      this.heartbeatDue = true;
    await this.heartbeatIfDue();
  }

  /** An idle read writes nothing: only one that applied others' changes makes the heartbeat due. */
  private async heartbeatIfDue() {
    if (!this.heartbeatDue || Date.now() - this.heartbeatAt < HEARTBEAT_REFRESH_MS) return;
    await refreshHeartbeat(this.deps);
    this.heartbeatDue = false;
    this.heartbeatAt = Date.now();
  }
}
