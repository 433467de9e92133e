import type { Config } from "../config/index.js";
import { createMinioDatastore } from "../datastore/index.js";
import type { Datastore } from "../datastore/types.js";
import { DatastoreError } from "../datastore/errors.js";
import { logRequestCounts, requestStatsEnabled } from "../datastore/request-stats.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { JOURNAL_FILE } from "../journal/journal-file.js";
import { Journal } from "../journal/journal.js";
import { acquireStateLock } from "../journal/lock.js";
import { createLogger, type Logger, type LoggerOptions } from "../log/index.js";
import { CliExit, EXIT_FAILURE } from "./exit.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

/** The configured logger; `output` overrides where lines go and whether they are journald lines. */
export function loggerFor(config: Config, output: Pick<LoggerOptions, "stream" | "journald"> = {}): Logger {
  return createLogger({ level: config.log.level, format: config.log.format, ...output });
}

export interface Runtime {
  config: Config;
  logger: Logger;
  journal: Journal;
  datastore: Datastore;
  close(): void;
}

/** Config, logger, the locked journal (read-only for a dry run) and a reachable datastore: what sync needs. */
export async function openRuntime(
  options: GlobalOptions & { dryRun?: boolean },
  output?: Pick<LoggerOptions, "stream" | "journald">,
): Promise<Runtime> {
  const config = loadConfigOrExit(options);
  const logger = loggerFor(config, output);
  // A dry run changes nothing: it reads the journal beside a running agent, and plans against an empty one
  // on a machine that never synced, creating no state dir.
  const lock = options.dryRun ? { release() {} } : acquireStateLock(config.stateDir);
  const journal = !options.dryRun
    ? Journal.open(config.stateDir)
    : existsSync(join(config.stateDir, JOURNAL_FILE))
      ? Journal.open(config.stateDir, { readonly: true })
      : Journal.openInMemory();
  // Changes a process that died was writing may be in the bucket: this pass publishes their records.
  if (!options.dryRun) journal.adoptUnfinishedChanges();
  const datastore = createMinioDatastore(config.datastore);
  try {
    await datastore.check();
  } catch (error) {
    journal.close();
    lock.release();
    if (error instanceof DatastoreError) throw new CliExit(EXIT_FAILURE, error.message);
    throw error;
  }
  return {
    config,
    logger,
    journal,
    datastore,
    close() {
      if (requestStatsEnabled()) logRequestCounts(logger, datastore);
      journal.close();
      lock.release();
    },
  };
}
