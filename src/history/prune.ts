import type { Config, SetConfig } from "../config/types.js";
import { HISTORY_MAX_ROWS } from "../journal/history.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/index.js";
import { pruneTrash } from "./trash.js";

export interface PruneDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  logger: Logger;
}

/**
 * Housekeeping of the audit trail and the trash: history rows past `history_retention` (and the oldest beyond
 * HISTORY_MAX_ROWS), and the set's trash directories past `trash_retention`.
 */
export async function pruneHistoryAndTrash(
  deps: PruneDeps,
  now: number,
  maxRows = HISTORY_MAX_ROWS,
): Promise<void> {
  const { config, set } = deps;
  const rows = deps.journal.pruneHistory(now - config.historyRetentionMs, maxRows);
  const trash = await pruneTrash(config.stateDir, set.name, now - config.trashRetentionMs);
  if (rows > 0 || trash > 0) {
    deps.logger.info("history housekeeping", { historyRowsExpired: rows, trashDirsExpired: trash });
  }
}
