import { stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../log/index.js";

/**
 * What the operator can tell a running agent's next pass of one set, by creating an empty file in the state
 * dir (root only can write there): the same as `fedsync sync --<flag>`, which cannot run beside the agent.
 */
export type OperatorFlag = "accept-new-root" | "allow-mass-delete";

export function flagPath(stateDir: string, flag: OperatorFlag, setName: string): string {
  return join(stateDir, `${flag}.${setName}`);
}

/**
 * Whether the flag file is there for this set. A real pass removes it (the flag is good for one pass), a dry
 * run leaves it.
 */
export async function takeFlag(
  stateDir: string,
  flag: OperatorFlag,
  setName: string,
  options: { dryRun: boolean; logger: Logger; meaning: string },
): Promise<boolean> {
  const path = flagPath(stateDir, flag, setName);
  try {
    if (options.dryRun) await stat(path);
    else await unlink(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  options.logger.info(`found ${path}: ${options.meaning}`);
  return true;
}
