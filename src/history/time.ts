import { parseDuration } from "../config/duration.js";

/**
 * A point in time given on the command line: a duration ago (`90s`, `2h`, `7d`) or a date and time that
 * Date.parse reads (`2026-03-01`, `2026-03-01T12:00:00Z`). Undefined when it is neither.
 */
export function parseTimeSpec(text: string, now = Date.now()): number | undefined {
  const ago = parseDuration(text.trim());
  if (ago !== undefined) return now - ago;
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim())) return undefined;
  const at = Date.parse(text.trim());
  return Number.isNaN(at) ? undefined : at;
}

export const TIME_SPEC_HELP = "a duration ago (30m, 2h, 7d) or a date and time (2026-03-01T12:00:00Z)";
