import { RESERVED_PREFIX } from "../config/names.js";

/** Where fedsync keeps its own records in the bucket (DESIGN §2): under RESERVED_PREFIX, per set. */
export function tombstonePrefix(set: string): string {
  return `${RESERVED_PREFIX}${set}/tombstones/`;
}

export function logPrefix(set: string): string {
  return `${RESERVED_PREFIX}${set}/log/`;
}

export function heartbeatPrefix(set: string): string {
  return `${RESERVED_PREFIX}${set}/machines/`;
}

export function heartbeatKey(set: string, machine: string): string {
  return `${heartbeatPrefix(set)}${machine}`;
}

/** `20261125T143000123Z`: sorts by time, so a log listing is a time-ordered read. */
export function compactTimestamp(at: number): string {
  return new Date(at).toISOString().replace(/[-:.]/g, "");
}

/** Time of a compact timestamp, or undefined when the text is not one. */
export function parseCompactTimestamp(text: string): number | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, ms] = match;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms));
}

export function logKey(set: string, at: number, machine: string, seq: number): string {
  return `${logPrefix(set)}${compactTimestamp(at)}-${machine}-${String(seq).padStart(6, "0")}`;
}
