import { realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { Config, SetConfig } from "../config/types.js";
import { validateEntryKey } from "../scan/keys.js";

/** One file of one set, named by the user. */
export interface FileTarget {
  set: SetConfig;
  /** Entry key inside the set. */
  key: string;
  /** Absolute local path. */
  path: string;
}

/** The named path is not a file inside any set root (or not a valid one). */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetError";
  }
}

/** `path` with the symlinks of its existing part resolved (the rest may not exist yet, or any more). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPath(parent), basename(path));
  }
}

function keyUnder(root: string, path: string): string | undefined {
  const rel = relative(root, path);
  if (rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join("/");
}

function checkedKey(set: SetConfig, key: string, named: string): FileTarget {
  const problem = validateEntryKey(key);
  if (problem !== null) throw new TargetError(`${named}: not a path fedsync syncs (${problem})`);
  return { set, key, path: resolve(set.path, key) };
}

/**
 * Resolves `set:relative/path`, or an absolute (or relative to `cwd`) path inside a set root, to a set and
 * entry key. The file need not exist (it may have been deleted), so only its directory is resolved through
 * symlinks, and a path outside every set root is refused.
 */
export function resolveTarget(config: Config, named: string, cwd = process.cwd()): FileTarget {
  const prefixed = /^([^/:]+):(.*)$/.exec(named);
  const set = prefixed ? config.sets.find((s) => s.name === prefixed[1]) : undefined;
  if (prefixed && set) return checkedKey(set, prefixed[2]!.replace(/^\/+/, ""), named);
  const absolute = resolve(cwd, named);
  for (const candidate of new Set([absolute, realPath(absolute)])) {
    for (const s of config.sets) {
      for (const root of new Set([s.path, realPath(s.path)])) {
        const key = keyUnder(root, candidate);
        if (key !== undefined) return checkedKey(s, key, named);
      }
    }
  }
  const names = config.sets.map((s) => `${s.name} (${s.path})`).join(", ");
  throw new TargetError(`${named} is not inside any set root (${names || "no sets configured"})`);
}
