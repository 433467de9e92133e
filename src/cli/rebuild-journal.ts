import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { SetConfig } from "../config/types.js";
import { DatastoreError } from "../datastore/errors.js";
import { createMinioDatastore } from "../datastore/index.js";
import { replaceJournal } from "../journal/journal-file.js";
import { Journal } from "../journal/journal.js";
import { acquireStateLock } from "../journal/lock.js";
import { rebuildSet, RebuildError, type RebuildCounts } from "../reconcile/rebuild.js";
import { CliExit, EXIT_FAILURE, EXIT_OK } from "./exit.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";
import { loggerFor } from "./runtime.js";

function describe(set: SetConfig, counts: RebuildCounts): string {
  return (
    `${set.name}: ${counts.agreed} entries recorded as in agreement; left for the next pass: ` +
    `${counts.differing} that differ (both versions will be kept), ${counts.localOnly} only in ${set.path}, ` +
    `${counts.remoteOnly} only in the bucket` +
    (counts.unreadable > 0 ? `; ${counts.unreadable} unreadable, skipped` : "")
  );
}

/**
 * `fedsync rebuild-journal`: replaces a lost or damaged journal with one rebuilt from the trees and the
 * bucket (see rebuildSet). Needs the agent stopped (the state lock); the old journal is kept beside the new
 * one. The conflict history, the audit trail and the pending queue start empty.
 */
export async function rebuildJournalCommand(options: GlobalOptions): Promise<number> {
  const config = loadConfigOrExit(options);
  const logger = loggerFor(config);
  const lock = acquireStateLock(config.stateDir);
  try {
    const datastore = createMinioDatastore(config.datastore);
    try {
      await datastore.check();
    } catch (error) {
      if (error instanceof DatastoreError) throw new CliExit(EXIT_FAILURE, error.message);
      throw error;
    }
    const workDir = mkdtempSync(join(config.stateDir, "rebuild-"));
    try {
      const journal = Journal.open(workDir);
      try {
        for (const set of config.sets) {
          const counts = await rebuildSet({ config, set, journal, datastore, logger }).catch(
            (error: unknown) => {
              throw error instanceof RebuildError ? new CliExit(EXIT_FAILURE, error.message) : error;
            },
          );
          process.stdout.write(`${describe(set, counts)}\n`);
        }
      } finally {
        journal.close();
      }
      const { target, keptAs } = replaceJournal(config.stateDir, workDir);
      process.stdout.write(
        `journal rebuilt at ${target}${keptAs ? `; the previous one is kept as ${keptAs}` : ""}\n`,
      );
    } finally {
      rmSync(workDir, { recursive: true, force: true });
    }
    return EXIT_OK;
  } finally {
    lock.release();
  }
}
