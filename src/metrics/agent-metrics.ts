/** The agent's Prometheus metrics (prom-client), fed by the set runners' events and read at scrape time. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SetConfig } from "../config/types.js";
import type { Journal } from "../journal/journal.js";
import type { PassResult, PassScope } from "../reconcile/pass.js";
import type { HookName, HookResult } from "../hooks/set-hooks.js";
import { FEDSYNC_VERSION } from "../version.js";

/** From a changed-keys pass of a few milliseconds to a full pass over a large tree. */
const PASS_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export type PassOutcome = "ok" | "failed" | "guard";

/** What the metrics read when scraped: the journal and the sets now configured. */
export interface MetricsSource {
  journal: Journal;
  sets(): readonly SetConfig[];
}

/** One set's view of the metrics, for its runner's events. */
export interface SetMetrics {
  /** A pass ran to its end or stopped at a guard. */
  passFinished(scope: PassScope, result: PassResult): void;
  /** A pass ended with an error (the datastore unreachable, say). */
  passFailed(scope: PassScope, durationMs: number): void;
  notificationStream(up: boolean): void;
  hookRan(hook: HookName, result: HookResult): void;
}

function outcomeOf(result: PassResult): PassOutcome {
  if (result.guardTripped) return "guard";
  return result.ok ? "ok" : "failed";
}

function scopeLabel(scope: PassScope): "full" | "partial" {
  return scope.kind === "full" ? "full" : "partial";
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly streams = new Map<string, boolean>();
  private processMetrics = false;
  private readonly passes;
  private readonly passSeconds;
  private readonly files;
  private readonly bytes;
  private readonly deleted;
  private readonly failedFiles;
  private readonly conflicts;
  private readonly guardTrips;
  private readonly requests;
  private readonly hookRuns;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    const counter = <T extends string>(name: string, help: string, labelNames: readonly T[]) =>
      new Counter({ name, help, labelNames, registers });
    this.passes = counter("fedsync_passes_total", "Passes that ended, by result (ok, failed, guard).", [
      "set",
      "result",
    ]);
    this.passSeconds = new Histogram({
      name: "fedsync_pass_duration_seconds",
      help: "Duration of passes: full passes, and partial ones over changed keys or a subtree.",
      labelNames: ["set", "scope"],
      buckets: PASS_SECONDS_BUCKETS,
      registers,
    });
    this.files = counter("fedsync_transferred_files_total", "Files uploaded (up) and downloaded (down).", [
      "set",
      "direction",
    ]);
    this.bytes = counter("fedsync_transferred_bytes_total", "Bytes uploaded (up) and downloaded (down).", [
      "set",
      "direction",
    ]);
    this.deleted = counter(
      "fedsync_deleted_files_total",
      "Entries deleted in the local tree or in the bucket.",
      ["set", "side"],
    );
    this.failedFiles = counter("fedsync_failed_files_total", "Actions on single paths that failed.", ["set"]);
    this.conflicts = counter("fedsync_conflicts_total", "Paths changed on two machines at once.", ["set"]);
    this.guardTrips = counter("fedsync_guard_trips_total", "Passes stopped by the deletion guard.", ["set"]);
    this.requests = counter("fedsync_datastore_requests_total", "Requests to the bucket, by S3 operation.", [
      "operation",
    ]);
    this.hookRuns = counter("fedsync_hook_runs_total", "Hook runs, by result (ok, failed, timeout).", [
      "set",
      "hook",
      "result",
    ]);

    const perSet = (name: string, help: string, value: (set: SetConfig) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ["set"],
        registers,
        collect() {
          this.reset();
          for (const set of source.sets()) {
            const current = value(set);
            if (current !== undefined) this.set({ set: set.name }, current);
          }
        },
      });
    perSet("fedsync_pending_changes", "Local changes reported by the watcher and not synced yet.", (set) =>
      source.journal.countPending(set.name),
    );
    perSet(
      "fedsync_last_good_pass_timestamp_seconds",
      "When the last full pass without a guard trip ended (Unix time).",
      (set) => {
        const at = source.journal.getSetState(set.name).lastGoodSync;
        return at === null ? undefined : at / 1000;
      },
    );
    perSet(
      "fedsync_full_pass_interval_seconds",
      "Time between full passes: interval (heavyweight) or safety_interval (lightweight).",
      (set) => (set.method === "heavyweight" ? set.intervalMs : set.safetyIntervalMs) / 1000,
    );
    perSet(
      "fedsync_notification_stream_up",
      "Lightweight sets: 1 while the bucket-notification stream is open, 0 while it reconnects.",
      (set) => {
        const up = this.streams.get(set.name);
        return up === undefined ? undefined : Number(up);
      },
    );
    new Gauge({
      name: "fedsync_build_info",
      help: "The running fedsync: its version and Node.js's.",
      labelNames: ["version", "node_version"],
      registers,
    }).set({ version: FEDSYNC_VERSION, node_version: process.version }, 1);
  }

  /** Adds the standard process and Node.js metrics; their event-loop and GC monitors run only once served. */
  includeProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one request to the bucket (the datastore's request hook). */
  readonly datastoreRequest = (operation: string): void => {
    this.requests.inc({ operation });
  };

  /** The metrics of one set; its counters start at 0, so rates and increases see the first event. */
  forSet(set: string): SetMetrics {
    for (const result of ["ok", "failed", "guard"]) this.passes.inc({ set, result }, 0);
    for (const direction of ["up", "down"]) {
      this.files.inc({ set, direction }, 0);
      this.bytes.inc({ set, direction }, 0);
    }
    for (const side of ["local", "bucket"]) this.deleted.inc({ set, side }, 0);
    this.failedFiles.inc({ set }, 0);
    this.conflicts.inc({ set }, 0);
    this.guardTrips.inc({ set }, 0);
    return {
      passFinished: (scope, result) => {
        const c = result.counts;
        this.passes.inc({ set, result: outcomeOf(result) });
        this.passSeconds.observe({ set, scope: scopeLabel(scope) }, result.durationMs / 1000);
        this.files.inc({ set, direction: "up" }, c.uploaded);
        this.files.inc({ set, direction: "down" }, c.downloaded);
        this.bytes.inc({ set, direction: "up" }, c.bytesUp);
        this.bytes.inc({ set, direction: "down" }, c.bytesDown);
        this.deleted.inc({ set, side: "local" }, c.deletedLocal);
        this.deleted.inc({ set, side: "bucket" }, c.deletedRemote);
        this.failedFiles.inc({ set }, c.failed);
        this.conflicts.inc({ set }, c.conflicts);
        if (result.guardTripped) this.guardTrips.inc({ set });
      },
      passFailed: (scope, durationMs) => {
        this.passes.inc({ set, result: "failed" });
        this.passSeconds.observe({ set, scope: scopeLabel(scope) }, durationMs / 1000);
      },
      notificationStream: (up) => this.streams.set(set, up),
      hookRan: (hook, result) => this.hookRuns.inc({ set, hook, result }),
    };
  }
}
