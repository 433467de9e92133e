import type { Config, SetConfig } from "../../config/types.js";
import type { Datastore } from "../../datastore/types.js";
import type { AuditEntry } from "../../history/audit.js";
import type { Journal } from "../../journal/journal.js";
import type { Logger } from "../../log/index.js";
import type { PassCounts } from "../counts.js";
import type { RecentDeletions } from "../guards.js";
import type { SetIgnore } from "../ignore-rules.js";
import type { OwnerNames } from "../owners.js";
import type { Action } from "../planner.js";
import type { BucketView, PassScope } from "../sources.js";

export interface PassDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  datastore: Datastore;
  logger: Logger;
  owners?: OwnerNames;
  now?: () => number;
}

export interface PassOptions {
  scope?: PassScope;
  dryRun?: boolean;
  allowMassDelete?: boolean;
  /**
   * Take the set root as it is now, after it changed identity (another directory, an unmount), and the
   * sub-mounts that are no longer mounted as gone for good. Also asked for by the flag file (root.ts).
   */
  acceptNewRoot?: boolean;
  /** Called as the pass goes: after every 1,000 entries checked and after every change. */
  onProgress?: (progress: PassProgress) => void;
  /** Once aborted, the pass starts no new work: what is in flight finishes, deletions and the rest wait. */
  signal?: AbortSignal;
  /** List the bucket even when the change log shows no other writer since the last listing. */
  fullListing?: boolean;
  /** The set's ignore rules, when the caller has loaded them (see loadSetIgnore); else the pass loads them. */
  ignore?: SetIgnore;
  /**
   * Deletions made by earlier passes since the last full pass that ran to its end. The guard counts them with
   * this pass's own, so a tree emptied a few files at a time (the watcher reports an `rm -rf` in batches)
   * trips it just as a tree emptied at once does.
   */
  recentDeletions?: RecentDeletions;
  /** Told every change the pass applies or publishes, as the audit trail records it. */
  onApplied?: (entry: AuditEntry) => void;
}

export interface PlannedAction {
  key: string;
  action: Action["kind"];
  detail?: string;
}

export interface PassProgress {
  /** Entries looked at so far. */
  checked: number;
  /** The pass's counts, live: they keep changing after the call. */
  counts: PassCounts;
}

/** `12000 checked, 3 up, 0 down`. */
export function describeProgress(progress: PassProgress): string {
  return `${progress.checked} checked, ${progress.counts.uploaded} up, ${progress.counts.downloaded} down`;
}

export interface PassResult {
  set: string;
  ok: boolean;
  /** Why the pass stopped (a guard); undefined when it ran to the end. */
  error?: string;
  guardTripped: boolean;
  catchUp: boolean;
  counts: PassCounts;
  /** Local files read to hash them (0 in an unchanged pass: skip-by-stat). */
  hashed: number;
  durationMs: number;
  /** The plan, for --dry-run. */
  planned: PlannedAction[];
  /** The change-log record written for this pass's outgoing changes, if any. */
  changeLogKey?: string;
  /** Entries the pass could not sync (skipped, logged once each), and the last of them. */
  problems: PassProblems;
  /** Stopped early by the abort signal: nothing deleted, the rest left for the next pass. */
  interrupted: boolean;
  /** Where the bucket's side came from: a listing, or (a full pass with no other writer since) the journal. */
  bucket: BucketView;
  /** Files kept while their object, gone without a deletion mark, waits out `unmarked_deletion_delay`. */
  awaitingDeletion: string[];
  /** Paths whose change, recorded by another writer, neither the listing nor a direct look-up showed yet. */
  awaitedChanges: string[];
}

export interface PassProblems {
  count: number;
  /** `<key>: <why>` */
  last?: string;
}
