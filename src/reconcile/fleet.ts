import { logPrefix } from "../datastore/layout.js";
import type { Datastore } from "../datastore/types.js";
import { recordMachine, recordTime } from "./changelog.js";

/** What a listing of a set's change log tells of the federation's changes. */
export interface LogSpan {
  /** The newest record's time per writer ("" for a record with no valid machine name). */
  newestBy: Map<string, number>;
  /** The oldest record's time: the log holds every record from then on. */
  oldest?: number;
}

/** The span of change-log record keys, in listing (time) order; keys that are not records are passed over. */
export function spanOf(set: string, keys: Iterable<string>): LogSpan {
  const newestBy = new Map<string, number>();
  let oldest: number | undefined;
  for (const key of keys) {
    const at = recordTime(set, key);
    if (at === undefined) continue;
    oldest = Math.min(at, oldest ?? at);
    const writer = recordMachine(set, key) ?? "";
    newestBy.set(writer, Math.max(at, newestBy.get(writer) ?? at));
  }
  return { newestBy, oldest };
}

/** One listing of the set's change log (a request per 1,000 records). */
export async function readLogSpan(datastore: Datastore, set: string): Promise<LogSpan> {
  const keys: string[] = [];
  for await (const info of datastore.list(logPrefix(set))) keys.push(info.key);
  return spanOf(set, keys);
}

/** The newest change in the log, leaving out the records `except` wrote. */
export function newestChange(span: LogSpan, except?: string): number | undefined {
  let newest: number | undefined;
  for (const [writer, at] of span.newestBy) if (writer !== except) newest = Math.max(at, newest ?? at);
  return newest;
}

/**
 * How far `machine` is behind the newest change another machine made, in ms: 0 once it has applied it.
 * Undefined when unknown: a heartbeat that does not say how far it applied (an older fedsync), or one that
 * applied nothing since before what the log still holds (`logRetentionMs`), when no newer record shows.
 */
export function lagBehind(
  span: LogSpan,
  machine: string,
  appliedThrough: number | undefined,
  now: number,
  logRetentionMs: number,
): number | undefined {
  if (appliedThrough === undefined) return undefined;
  const newest = newestChange(span, machine);
  if (newest !== undefined && newest > appliedThrough) return newest - appliedThrough;
  const completeSince = Math.min(span.oldest ?? Infinity, now - logRetentionMs);
  return appliedThrough >= completeSince ? 0 : undefined;
}
