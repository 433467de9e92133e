import type { Config, SetConfig } from "../config/types.js";
import type { Datastore } from "../datastore/types.js";
import type { Logger } from "../log/index.js";
import type { ChangeRecord } from "./executor.js";
import type { Journal } from "../journal/journal.js";
import { isMachineName } from "../config/names.js";
import { heartbeatKey, logKey, logPrefix, parseCompactTimestamp } from "./layout.js";
import { FEDSYNC_VERSION } from "../version.js";

interface Deps {
  config: Config;
  set: SetConfig;
  datastore: Datastore;
  journal: Journal;
}

let logSequence = 0;

/** One change-log object per batch of outgoing changes: JSON lines that the fast incoming path reads. */
export async function writeChangeLog(
  deps: Deps,
  changes: ChangeRecord[],
  at: number,
): Promise<string | undefined> {
  if (changes.length === 0) return undefined;
  const key = logKey(deps.set.name, at, deps.config.machine, ++logSequence);
  const body = Buffer.from(changes.map((change) => JSON.stringify(change)).join("\n") + "\n");
  await deps.datastore.put(key, body, body.length, { "content-type": "application/x-ndjson" });
  return key;
}

/** Expires tombstones and change-log records past their retention. */
export async function housekeep(
  deps: Deps,
  expiredTombstones: string[],
  now: number,
  logger: Logger,
): Promise<void> {
  deps.journal.pruneAppliedTombstones(deps.set.name, now - deps.config.tombstoneRetentionMs);
  const prefix = logPrefix(deps.set.name);
  const cutoff = now - deps.config.logRetentionMs;
  const expiredLogs: string[] = [];
  for await (const info of deps.datastore.list(prefix)) {
    const at = parseCompactTimestamp(info.key.slice(prefix.length));
    if (at === undefined) continue;
    if (at >= cutoff) break;
    expiredLogs.push(info.key);
  }
  const expired = [...expiredTombstones, ...expiredLogs];
  if (expired.length === 0) return;
  await deps.datastore.delete(expired);
  logger.info("housekeeping", {
    tombstonesExpired: expiredTombstones.length,
    logRecordsExpired: expiredLogs.length,
  });
}

export interface Heartbeat {
  machine: string;
  version: string;
  lastGoodPass: number;
  files: number;
}

const VERSION_TEXT = /^[0-9A-Za-z.+-]{1,40}$/;

/**
 * A heartbeat object's body, checked field by field (any bucket writer may have put it): undefined unless the
 * machine is a valid machine name matching the key's, and the figures are what they claim to be.
 */
export function parseHeartbeat(set: string, key: string, body: string): Heartbeat | undefined {
  let value: Partial<Record<keyof Heartbeat, unknown>>;
  try {
    value = JSON.parse(body) as typeof value;
  } catch {
    return undefined;
  }
  const { machine, version, lastGoodPass, files } = value ?? {};
  const valid =
    typeof machine === "string" &&
    isMachineName(machine) &&
    key === heartbeatKey(set, machine) &&
    typeof version === "string" &&
    VERSION_TEXT.test(version) &&
    Number.isSafeInteger(lastGoodPass) &&
    !Number.isNaN(new Date(lastGoodPass as number).getTime()) &&
    Number.isSafeInteger(files) &&
    (files as number) >= 0;
  return valid
    ? { machine, version, lastGoodPass: lastGoodPass as number, files: files as number }
    : undefined;
}

/** Tells the federation this machine is alive and when it last completed a pass. */
export async function writeHeartbeat(deps: Deps, lastGoodPass: number, files: number): Promise<void> {
  const heartbeat: Heartbeat = {
    machine: deps.config.machine,
    version: FEDSYNC_VERSION,
    lastGoodPass,
    files,
  };
  const body = Buffer.from(JSON.stringify(heartbeat));
  await deps.datastore.put(heartbeatKey(deps.set.name, deps.config.machine), body, body.length, {
    "content-type": "application/json",
  });
}
