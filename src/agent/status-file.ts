import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NotificationHealth } from "../watch/notifications.js";

/** What the running agent publishes for `fedsync status` (a file in the state dir, replaced atomically). */
export interface AgentStatus {
  pid: number;
  startedAt: number;
  updatedAt: number;
  /** Agent-wide trouble, such as waiting for the datastore at start or an outage. */
  state?: string;
  /** Per set: its one-line state and, for a lightweight set, the health of its bucket notifications. */
  sets: Record<
    string,
    { state: string; notifications?: NotificationHealth; lastPassMs?: number; problems?: SetProblems }
  >;
}

/** Entries the last full pass of a set could not sync (skipped, each logged once), and the last of them. */
export interface SetProblems {
  count: number;
  /** `<key>: <why>` */
  last?: string;
}

function statusPath(stateDir: string): string {
  return join(stateDir, "agent-status.json");
}

export function writeAgentStatus(stateDir: string, status: AgentStatus): void {
  const path = statusPath(stateDir);
  writeFileSync(`${path}.tmp`, JSON.stringify(status), { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}

/** The agent's status, or undefined when no agent is running (no file, or its pid is gone). */
export function readAgentStatus(stateDir: string): AgentStatus | undefined {
  let status: AgentStatus;
  try {
    status = JSON.parse(readFileSync(statusPath(stateDir), "utf8")) as AgentStatus;
  } catch {
    return undefined;
  }
  try {
    process.kill(status.pid, 0);
    return status;
  } catch {
    return undefined;
  }
}
