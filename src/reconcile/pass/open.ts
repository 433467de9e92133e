import { heartbeatKey } from "../../datastore/layout.js";
import { totalEntries, type EntryCounts } from "../../journal/types.js";
import type { IgnoreTest } from "../../scan/ignore.js";
import { digestRules } from "../bucket-view.js";
import { takeFlag } from "../flags.js";
import { GuardError } from "../guards.js";
import { loadSetIgnore } from "../ignore-rules.js";
import { checkRoot, RootMissingError, takeAcceptFlag, type RootDeps, type RootIdentity } from "../root.js";
import type { PassRun } from "./context.js";
import type { PassResult } from "./types.js";

/** What the checks before the pass found, for the steps after them. */
export interface Opened {
  rootDeps: RootDeps;
  /** The set's journal rows when the pass began, by type and in all. */
  countsAtStart: EntryCounts;
  journalCount: number;
  /** The journal's row writes when the pass began: none since, and the counts still hold. */
  fileWritesAtStart: number;
  /** Undefined only in a dry run of a set whose missing root would be created. */
  root?: RootIdentity;
  acceptNewRoot: boolean;
  ignored: IgnoreTest;
  rulesDigest: string;
}

/**
 * The checks before anything is listed: the flag files, the set root, a journal that knows the set, the
 * ignore rules. A failed check stops the pass with its result.
 */
export async function openPass(run: PassRun): Promise<Opened | { stopped: PassResult }> {
  const { config, set, journal } = run.deps;
  const { logger } = run;
  const countsAtStart = journal.countByType(set.name);
  const fileWritesAtStart = journal.fileWrites;
  const journalCount = totalEntries(countsAtStart);
  const rootDeps = { config, set, journal, logger };
  let acceptNewRoot = run.options.acceptNewRoot === true;
  let root;
  try {
    acceptNewRoot = (await takeAcceptFlag(rootDeps, run.dryRun)) || acceptNewRoot;
    const allowFlag = await takeFlag(config.stateDir, "allow-mass-delete", set.name, {
      dryRun: run.dryRun,
      logger,
      meaning: "this pass may delete past the deletion guard",
    });
    if (allowFlag) run.options = { ...run.options, allowMassDelete: true };
    root = await checkRoot(rootDeps, journalCount, { ...run.options, acceptNewRoot });
    await checkJournalKnowsSet(run, journalCount);
  } catch (error) {
    if (error instanceof GuardError) return { stopped: run.trip(error.message) };
    if (!(error instanceof RootMissingError)) throw error;
    logger.error(error.message);
    journal.updateSetState(set.name, { lastError: error.message });
    return { stopped: run.result(error.message, undefined, false) };
  }
  const ignore = run.options.ignore ?? (await loadSetIgnore(set, logger));
  if ("error" in ignore) return { stopped: run.trip(ignore.error) };
  const rulesDigest = digestRules(ignore.rules);
  if (run.catchUp) {
    logger.info("catch-up mode: the last good pass was long ago; applying what changed meanwhile", {
      lastGoodSync: new Date(run.state.lastGoodSync ?? 0).toISOString(),
    });
  }
  return {
    rootDeps,
    countsAtStart,
    journalCount,
    fileWritesAtStart,
    root,
    acceptNewRoot,
    ignored: ignore.ignored,
    rulesDigest,
  };
}

/**
 * A journal that has never seen the set, while the bucket holds this machine's heartbeat for it, was lost or
 * replaced: syncing from it would treat every path as new on both sides. Stop and point at the rebuild.
 */
async function checkJournalKnowsSet(run: PassRun, journalCount: number): Promise<void> {
  const { state } = run;
  if (journalCount > 0 || state.lastGoodSync !== null || state.lastFullPass !== null) return;
  const { set, config, journal } = run.deps;
  const heartbeat = await run.deps.datastore.stat(heartbeatKey(set.name, config.machine));
  if (!heartbeat) return;
  throw new GuardError(
    `the journal ${journal.file} knows nothing of set ${set.name}, but the bucket shows ${config.machine} synced it on ${heartbeat.lastModified.toISOString()}: the journal was lost or replaced; nothing synced (stop the agent and run \`fedsync rebuild-journal\`)`,
  );
}
