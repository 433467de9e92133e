import type { Logger } from "../log/index.js";
import type { Datastore } from "./types.js";

/** Set to 1 to have a command log the S3 requests it made, by operation (for benchmarks and tests). */
const REQUEST_STATS_ENV = "FEDSYNC_REQUEST_STATS";

export function requestStatsEnabled(): boolean {
  return process.env[REQUEST_STATS_ENV] === "1";
}

/** One line with the requests `datastore` has made so far, by operation, and their total. */
export function logRequestCounts(logger: Logger, datastore: Datastore): void {
  const requests = datastore.requestCounts();
  const total = Object.values(requests).reduce((sum, count) => sum + count, 0);
  logger.info("datastore requests", { requests, total });
}
