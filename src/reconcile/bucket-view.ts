import { createHash } from "node:crypto";
import type { Config, SetConfig } from "../config/types.js";
import type { Datastore } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import type { SetState } from "../journal/types.js";
import { othersRecords } from "./changelog.js";
import type { BucketView } from "./sources.js";

export interface BucketViewDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  datastore: Datastore;
}

/** How a full pass sees the bucket, and the other writers' records a listing pass covers. */
export interface BucketChoice {
  view: BucketView;
  /**
   * Records of other writers that were in the change log before the listing began: their objects were
   * written before it, so the listing sees them, and the pass marks them applied once it has run to its end
   * with every path synced (no failure, no skipped path or subtree: a record may be about one of those).
   */
  covered: { key: string; size: number }[];
}

/**
 * Whether a full pass must list the bucket, or may take the bucket's side from the journal. Every fedsync
 * writer leaves a change-log record after its uploads and deletion marks, so when the log holds no record of
 * another writer that this machine has not applied, the bucket holds what the journal says. Writers that
 * leave no record (other S3 clients, a machine that crashed between an upload and its record) are seen by
 * the listing every `full_listing_interval`; a catch-up pass, an empty journal, a last pass that left an
 * error or `--full-listing` list at once, and so does a last listing older than the change log's retention.
 */
export async function chooseBucketView(
  deps: BucketViewDeps,
  state: SetState,
  journalCount: number,
  options: { fullListing?: boolean; catchUp: boolean; now: number; ignoreRules: string },
): Promise<BucketChoice> {
  const { config, set, journal, datastore } = deps;
  const since = state.lastFullPassStarted ?? undefined;
  const window = Math.min(set.fullListingIntervalMs, config.logRetentionMs - config.clockSkewMs);
  const covered = await othersRecords(
    datastore,
    journal,
    set.name,
    config.machine,
    since,
    config.clockSkewMs,
  );
  const due =
    options.fullListing ||
    options.catchUp ||
    journalCount === 0 ||
    // The last pass left something undone (a failed download, a guard trip): the listing retries it.
    state.lastError !== null ||
    // Another writer's recorded change the bucket did not show yet is looked for again, and an object found
    // gone without a deletion mark is looked at again until its file can go (or the object is back).
    journal.countAwaited(set.name) > 0 ||
    journal.countMissing(set.name) > 0 ||
    // Rows of ignored paths are dropped: paths a rule no longer ignores are only in a listing.
    state.listedIgnoreRules !== options.ignoreRules ||
    since === undefined ||
    options.now - since >= window;
  return { view: due || covered.length > 0 ? "listing" : "journal", covered };
}

/** The ignore rules in force, as recorded with a listing pass. */
export function digestRules(rules: readonly string[]): string {
  return createHash("sha256").update(JSON.stringify(rules)).digest("hex");
}
