import type { Figures, Logger } from "../log/index.js";
import { formatBytes } from "../log/units.js";
import type { PassResult } from "./pass.js";

/** A pass's figures: as words for a plain line, as numbers for a json line (see Figures). */
export function passFigures(result: PassResult): Figures {
  const { counts } = result;
  const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : "";
  return {
    text:
      `${counts.uploaded} up, ${counts.downloaded} down, ${counts.deletedLocal} deleted here, ` +
      `${counts.deletedRemote} deleted remotely, ${counts.conflicts} conflicts, ${counts.failed} failed${skipped}, ` +
      `${formatBytes(counts.bytesUp)} up, ${formatBytes(counts.bytesDown)} down, ` +
      `${(result.durationMs / 1000).toFixed(2)} s`,
    values: { ...counts, durationMs: result.durationMs },
  };
}

function outcome(result: PassResult): string {
  if (result.interrupted) return "pass interrupted";
  return result.ok ? "pass complete" : "pass finished with errors";
}

/** Whether a pass changed a file on either side. */
export function passChanged(result: PassResult): boolean {
  const c = result.counts;
  return c.uploaded + c.downloaded + c.deletedLocal + c.deletedRemote + c.conflicts > 0;
}

/**
 * One line per pass, each figure once; a pass stopped before it began (a guard, a missing root) was logged by
 * the pass itself. With `quietWhenUnchanged` (the agent) a pass that changed nothing is logged at debug.
 */
export function logPassSummary(logger: Logger, result: PassResult, quietWhenUnchanged = false): void {
  if (result.error !== undefined) return;
  const quiet = quietWhenUnchanged && !passChanged(result);
  const level = result.interrupted ? "warn" : !result.ok ? "error" : quiet ? "debug" : "info";
  logger[level](
    outcome(result),
    { set: result.set, catchUp: result.catchUp || undefined },
    passFigures(result),
  );
}
