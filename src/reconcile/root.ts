/**
 * The set root before a pass: it must exist (or be created when the set says `create: true`), be a
 * directory, be the same directory as at the last full pass (device and inode), and not be empty while the
 * journal knows many entries. A root that fails these would make a pass take every file for deleted.
 */
import type { BigIntStats } from "node:fs";
import { mkdir, opendir, stat } from "node:fs/promises";
import type { Config, SetConfig } from "../config/types.js";
import type { Journal } from "../journal/journal.js";
import type { Logger } from "../log/index.js";
import { flagPath, takeFlag } from "./flags.js";
import { GUARD_MIN_DELETIONS, GuardError, massDeleteHint } from "./guards.js";
import { TEMP_NAME_PREFIX } from "../config/names.js";

/** The set root does not exist and the set does not say `create: true`: a failure, not a guard trip. */
export class RootMissingError extends Error {}

/** Which directory the set root is: its device and inode numbers. */
export interface RootIdentity {
  dev: bigint;
  ino: bigint;
}

export interface RootDeps {
  config: Config;
  set: SetConfig;
  journal: Journal;
  logger: Logger;
}

export interface RootOptions {
  dryRun?: boolean;
  allowMassDelete?: boolean;
  /** Take the root as it is now for the set's root, recording its identity (`--accept-new-root`). */
  acceptNewRoot?: boolean;
}

/** A device number as `major:minor`, the way Linux splits it (as lsblk and /proc/self/mountinfo show it). */
export function formatDevice(dev: bigint): string {
  const major = ((dev >> 32n) & 0xfffff000n) | ((dev >> 8n) & 0xfffn);
  const minor = ((dev >> 12n) & 0xffffff00n) | (dev & 0xffn);
  return `${major}:${minor}`;
}

export function formatIdentity(identity: RootIdentity): string {
  return `device ${formatDevice(identity.dev)} inode ${identity.ino}`;
}

/** The file in the state dir that makes the next pass of a set accept its root as it is (for the agent). */
export function acceptFlagPath(stateDir: string, setName: string): string {
  return flagPath(stateDir, "accept-new-root", setName);
}

/** Whether the operator left the accept flag for this set (see flags.ts). */
export function takeAcceptFlag(deps: RootDeps, dryRun: boolean): Promise<boolean> {
  return takeFlag(deps.config.stateDir, "accept-new-root", deps.set.name, {
    dryRun,
    logger: deps.logger,
    meaning: "accepting the set root and its mounts as they are now",
  });
}

/** The key path of the set's root in the config file, for messages. */
function rootKey(deps: RootDeps): string {
  return `sets[${deps.config.sets.findIndex((set) => set.name === deps.set.name)}].path`;
}

/** How the operator accepts the root (and its mounts) as they are now, with the agent stopped or running. */
export function acceptCommand(deps: RootDeps): string {
  const flag = acceptFlagPath(deps.config.stateDir, deps.set.name);
  return `run \`fedsync sync --set ${deps.set.name} --accept-new-root\`, or \`touch ${flag}\` while the agent runs`;
}

async function statRoot(path: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(path, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** Whether the set root holds nothing but fedsync's own temp files. */
async function rootIsEmpty(root: string): Promise<boolean> {
  const dir = await opendir(root);
  try {
    for await (const entry of dir) {
      if (!entry.name.startsWith(TEMP_NAME_PREFIX)) return false;
    }
    return true;
  } finally {
    await dir.close().catch(() => undefined);
  }
}

/**
 * Compares the root with the identity recorded at the last full pass; a new identity is accepted on request.
 * A journal without entries has nothing a new directory could make look deleted.
 */
function checkIdentity(
  deps: RootDeps,
  identity: RootIdentity,
  journalCount: number,
  options: RootOptions,
): void {
  const { set, journal, logger } = deps;
  const state = journal.getSetState(set.name);
  if (state.rootDev === null || state.rootIno === null || journalCount === 0) return;
  const recorded = { dev: BigInt(state.rootDev), ino: BigInt(state.rootIno) };
  if (recorded.dev === identity.dev && recorded.ino === identity.ino) return;
  const change = `was ${formatIdentity(recorded)} at the last full pass, is ${formatIdentity(identity)} now`;
  if (!options.acceptNewRoot) {
    throw new GuardError(
      `set root ${set.path} is not the directory synced before (${change}: unmounted, replaced or moved?); nothing synced or deleted (if it is the directory to sync now: ${acceptCommand(deps)})`,
    );
  }
  logger.warn(`set root ${set.path} accepted as a new directory (${change})`);
  if (!options.dryRun) {
    journal.updateSetState(set.name, { rootDev: String(identity.dev), rootIno: String(identity.ino) });
  }
}

/**
 * Checks the set root before a pass and returns its identity (undefined only in a dry run of a set whose
 * missing root would be created). Throws GuardError for a trip, RootMissingError for a missing root.
 */
export async function checkRoot(
  deps: RootDeps,
  journalCount: number,
  options: RootOptions,
): Promise<RootIdentity | undefined> {
  const { set } = deps;
  let stats = await statRoot(set.path);
  if (!stats) {
    if (journalCount > 0 && !options.allowMassDelete) {
      throw new GuardError(
        `set root ${set.path} is missing but the journal knows ${journalCount} entries (unmounted?); nothing synced or deleted`,
      );
    }
    if (!set.create) {
      throw new RootMissingError(
        `${rootKey(deps)}: set root ${set.path} does not exist; nothing synced (create the directory, or set \`create: true\` on the set)`,
      );
    }
    if (options.dryRun) return undefined;
    await mkdir(set.path, { recursive: true, mode: 0o755 });
    stats = await stat(set.path, { bigint: true });
  }
  if (!stats.isDirectory()) throw new GuardError(`set root ${set.path} is not a directory; nothing synced`);
  const identity = { dev: stats.dev, ino: stats.ino };
  checkIdentity(deps, identity, journalCount, options);
  // A set of a few files may be emptied on purpose; the ratio guard's floor applies here too.
  if (journalCount > GUARD_MIN_DELETIONS && !options.allowMassDelete && (await rootIsEmpty(set.path))) {
    throw new GuardError(
      `set root ${set.path} is empty but the journal knows ${journalCount} entries (emptied or unmounted?); nothing deleted (${massDeleteHint(set, deps.config.stateDir)})`,
    );
  }
  return identity;
}

/**
 * Checks after the scan that the set root is still the directory the pass began with: a root unmounted,
 * renamed or replaced while the pass walked it makes the rest of the walk see nothing, which must not read as
 * deletions. Throws GuardError when it is gone or another directory.
 */
export async function recheckRoot(deps: RootDeps, before: RootIdentity, journalCount: number): Promise<void> {
  const { set } = deps;
  const stats = await statRoot(set.path);
  if (!stats) {
    throw new GuardError(
      `set root ${set.path} is missing but the journal knows ${journalCount} entries (unmounted during the pass?); nothing deleted`,
    );
  }
  const now = { dev: stats.dev, ino: stats.ino };
  if (!stats.isDirectory() || now.dev !== before.dev || now.ino !== before.ino) {
    throw new GuardError(
      `set root ${set.path} became another directory during the pass (was ${formatIdentity(before)}, is ${formatIdentity(now)} now); nothing deleted`,
    );
  }
}
