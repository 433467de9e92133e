const UNITS = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
  ["ms", 1],
] as const;

const DURATION = /^(\d+)(ms|s|m|h|d)$/;

/** Parses "250ms", "30s", "2m", "1h" or "30d" into milliseconds; anything else, a bare number included, is undefined. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const unitMs = UNITS.find(([unit]) => unit === match[2])?.[1] ?? 0;
  const ms = Number(match[1]) * unitMs;
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * Formats milliseconds for people: the largest unit and the one below it, truncated
 * (120000 -> "2m", 183456 -> "3m3s", 250 -> "250ms", 0 -> "0ms"). Single-unit results parse back exactly.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  let rest = Math.trunc(Math.abs(ms));
  const parts: string[] = [];
  for (const [index, [unit, unitMs]] of UNITS.entries()) {
    const count = Math.floor(rest / unitMs);
    rest -= count * unitMs;
    if (count > 0) {
      parts.push(`${count}${unit}`);
      const next = UNITS[index + 1];
      if (next && rest >= next[1]) parts.push(`${Math.floor(rest / next[1])}${next[0]}`);
      break;
    }
  }
  const text = parts.join("") || "0ms";
  return ms < 0 && text !== "0ms" ? `-${text}` : text;
}

/** The duration in the largest unit that writes it exactly, so it parses back to `ms`: 90000 -> "90s". */
export function exactDuration(ms: number): string {
  const [unit, unitMs] = UNITS.find(([, unitMs]) => ms % unitMs === 0) ?? ["ms", 1];
  return `${ms / unitMs}${unit}`;
}
