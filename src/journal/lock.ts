import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { JournalError } from "./errors.js";

export const LOCK_FILE = "fedsync.lock";

export interface StateLock {
  release(): void;
}

interface Holder {
  pid: number;
  /** The holder's start time from /proc (clock ticks since boot), to tell a reused pid from the holder. */
  startTime: string | null;
}

function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 2 (the command) may contain spaces and parentheses; the fields after its last ")" start at 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[22 - 3] ?? null;
  } catch {
    return null;
  }
}

function readHolder(file: string): Holder | null | "absent" {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "absent";
    throw error;
  }
  const [pidText, startTime] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  return { pid, startTime: startTime ?? null };
}

function isAlive(holder: Holder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  // After a reboot the recorded pid may belong to an unrelated process.
  const startTime = processStartTime(holder.pid);
  return holder.startTime === null || startTime === null || startTime === holder.startTime;
}

function isUs(holder: Holder, ownStartTime: string | null): boolean {
  return holder.pid === process.pid && (holder.startTime === null || holder.startTime === ownStartTime);
}

/**
 * Takes the state directory for this process, so a second agent on the same state dir is refused.
 * The lock file holds the owner's pid (and start time); a lock whose owner is gone is taken over.
 */
export function acquireStateLock(stateDir: string): StateLock {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, LOCK_FILE);
  const ownStartTime = processStartTime(process.pid);
  const content = `${process.pid}${ownStartTime === null ? "" : ` ${ownStartTime}`}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, "wx", 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readHolder(file);
      if (holder === "absent") continue;
      if (holder !== null && !isUs(holder, ownStartTime) && isAlive(holder)) {
        throw new JournalError(`state dir ${stateDir} is in use by pid ${holder.pid}`);
      }
      rmSync(file, { force: true });
      continue;
    }
    try {
      writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
    return {
      release() {
        const holder = readHolder(file);
        if (holder !== "absent" && holder !== null && isUs(holder, ownStartTime))
          rmSync(file, { force: true });
      },
    };
  }
  throw new JournalError(`could not take the lock ${file}: it keeps changing hands`);
}
