import { ConfigError, loadConfig, resolveConfigPath, type Config } from "../config/index.js";
import { createMinioDatastore } from "../datastore/index.js";
import type { Datastore } from "../datastore/types.js";
import { DatastoreError } from "../datastore/errors.js";
import { logRequestCounts, requestStatsEnabled } from "../datastore/request-stats.js";
import { Journal } from "../journal/journal.js";
import { acquireStateLock } from "../journal/lock.js";
import { createLogger, registerSecret, type Logger } from "../log/index.js";
import { CliExit, EXIT_FAILURE, EXIT_USAGE } from "./exit.js";

export interface GlobalOptions {
  config?: string;
}

/** Loads and validates the config; a bad one ends the command with exit 2 and every problem listed. */
export function loadConfigOrExit(options: GlobalOptions): Config {
  try {
    const config = loadConfig(resolveConfigPath(options.config));
    registerSecret(config.datastore.secretAccessKey);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) throw new CliExit(EXIT_USAGE, error.message);
    throw error;
  }
}

export function loggerFor(config: Config): Logger {
  return createLogger({ level: config.log.level, format: config.log.format });
}

export interface Runtime {
  config: Config;
  logger: Logger;
  journal: Journal;
  datastore: Datastore;
  close(): void;
}

/** Config, logger, the locked journal and a reachable datastore: what sync and run need. */
export async function openRuntime(options: GlobalOptions): Promise<Runtime> {
  const config = loadConfigOrExit(options);
  const logger = loggerFor(config);
  const lock = acquireStateLock(config.stateDir);
  const journal = Journal.open(config.stateDir);
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
