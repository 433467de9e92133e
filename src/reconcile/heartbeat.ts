import type { Config, SetConfig } from "../config/types.js";
import { isMachineName } from "../config/names.js";
import { NotFoundError } from "../datastore/errors.js";
import { heartbeatKey, heartbeatPrefix } from "../datastore/layout.js";
import type { Datastore } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import type { EntryCounts } from "../journal/types.js";
import { FEDSYNC_VERSION } from "../version.js";

export interface HeartbeatDeps {
  config: Config;
  set: SetConfig;
  datastore: Datastore;
  journal: Journal;
}

export interface Heartbeat {
  machine: string;
  version: string;
  lastGoodPass: number;
  /**
   * The change log's time up to which the machine has applied every other machine's change (ms since the
   * epoch); absent from heartbeats written before it existed.
   */
  appliedThrough?: number;
  /** Regular files. Heartbeats written before `directories` existed counted every entry here. */
  files: number;
  directories?: number;
  symlinks?: number;
}

const VERSION_TEXT = /^[0-9A-Za-z.+-]{1,40}$/;
/** Further ahead of the reader's clock than this, `appliedThrough` is not a clock's error but a lie. */
export const MAX_AHEAD_MS = 24 * 60 * 60 * 1000;

/**
 * A heartbeat object's body, checked field by field (any bucket writer may have put it): undefined unless the
 * machine is a valid machine name matching the key's, and the figures are what they claim to be.
 */
export function parseHeartbeat(
  set: string,
  key: string,
  body: string,
  now: number = Date.now(),
): Heartbeat | undefined {
  let value: Partial<Record<keyof Heartbeat, unknown>>;
  try {
    value = JSON.parse(body) as typeof value;
  } catch {
    return undefined;
  }
  const { machine, version, lastGoodPass, appliedThrough, files, directories, symlinks } = value ?? {};
  const count = (n: unknown) => (Number.isSafeInteger(n) && (n as number) >= 0 ? (n as number) : undefined);
  const valid =
    typeof machine === "string" &&
    isMachineName(machine) &&
    key === heartbeatKey(set, machine) &&
    typeof version === "string" &&
    VERSION_TEXT.test(version) &&
    Number.isSafeInteger(lastGoodPass) &&
    !Number.isNaN(new Date(lastGoodPass as number).getTime()) &&
    (appliedThrough === undefined || (count(appliedThrough) ?? Infinity) <= now + MAX_AHEAD_MS) &&
    count(files) !== undefined;
  return valid
    ? {
        machine,
        version,
        lastGoodPass: lastGoodPass as number,
        ...(appliedThrough !== undefined && { appliedThrough: appliedThrough as number }),
        files: files as number,
        directories: count(directories),
        symlinks: count(symlinks),
      }
    : undefined;
}

/** Tells the federation this machine is alive, when it last completed a pass, how far it applied and what it holds. */
export async function writeHeartbeat(
  deps: HeartbeatDeps,
  lastGoodPass: number,
  counts: EntryCounts,
): Promise<void> {
  const { appliedThrough } = deps.journal.getSetState(deps.set.name);
  const heartbeat: Heartbeat = {
    machine: deps.config.machine,
    version: FEDSYNC_VERSION,
    lastGoodPass,
    ...(appliedThrough !== null && { appliedThrough }),
    ...counts,
  };
  const body = Buffer.from(JSON.stringify(heartbeat));
  await deps.datastore.put(heartbeatKey(deps.set.name, deps.config.machine), body, body.length, {
    "content-type": "application/json",
  });
}

/**
 * Rewrites the heartbeat between full passes, so the federation sees how far a lightweight set has applied
 * the change log. False (nothing written) before the set's first full pass.
 */
export async function refreshHeartbeat(deps: HeartbeatDeps): Promise<boolean> {
  const { lastGoodSync } = deps.journal.getSetState(deps.set.name);
  if (lastGoodSync === null) return false;
  await writeHeartbeat(deps, lastGoodSync, deps.journal.countByType(deps.set.name));
  return true;
}

/** A heartbeat as found in the bucket, with the time its object was written. */
export interface StoredHeartbeat extends Heartbeat {
  key: string;
  writtenAt: number;
}

/** The heartbeats of every machine for one set (bucket objects, so each one is checked before use). */
export async function readHeartbeats(datastore: Datastore, set: string): Promise<StoredHeartbeat[]> {
  const heartbeats: StoredHeartbeat[] = [];
  for await (const info of datastore.list(heartbeatPrefix(set))) {
    const heartbeat = await readStored(datastore, set, info.key, info.lastModified);
    if (heartbeat) heartbeats.push(heartbeat);
  }
  return heartbeats;
}

/** One machine's heartbeat for one set, if there is one. */
export async function readHeartbeat(
  datastore: Datastore,
  set: string,
  machine: string,
): Promise<StoredHeartbeat | undefined> {
  const key = heartbeatKey(set, machine);
  const info = await datastore.stat(key);
  if (!info) return undefined;
  return readStored(datastore, set, key, info.lastModified);
}

async function readStored(datastore: Datastore, set: string, key: string, lastModified: Date) {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of await datastore.get(key)) chunks.push(chunk as Buffer);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  const parsed = parseHeartbeat(set, key, Buffer.concat(chunks).toString("utf8"));
  return parsed && { ...parsed, key, writtenAt: lastModified.getTime() };
}
