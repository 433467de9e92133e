import { createMinioDatastore } from "../datastore/index.js";
import { Journal } from "../journal/journal.js";
import { heartbeatPrefix } from "../reconcile/layout.js";
import { parseHeartbeat } from "../reconcile/housekeeping.js";
import type { Config } from "../config/types.js";
import { readAgentStatus } from "../agent/status-file.js";
import { EXIT_FAILURE, EXIT_OK } from "./exit.js";
import { formatAgo } from "./format.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

export interface SetStatus {
  name: string;
  method: string;
  path: string;
  state: string;
  /** Lightweight sets while the agent runs: healthy, reconnecting or unsupported. */
  notifications?: string;
  files: number;
  pending: number;
  conflicts: number;
  lastPass: string | null;
  lastPassSeconds: number | null;
  lastError: string | null;
  /** Entries the agent's last full pass could not sync (null when no agent runs), and the last of them. */
  problems: number | null;
  lastProblem: string | null;
  machines: { machine: string; lastGoodPass: string; files: number; version: string }[];
  machinesError?: string;
}

async function readHeartbeats(config: Config, set: string): Promise<SetStatus["machines"]> {
  const datastore = createMinioDatastore(config.datastore, { retries: 0 });
  const machines: SetStatus["machines"] = [];
  for await (const info of datastore.list(heartbeatPrefix(set))) {
    const body = await datastore.get(info.key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    const heartbeat = parseHeartbeat(set, info.key, Buffer.concat(chunks).toString("utf8"));
    if (!heartbeat) continue;
    machines.push({
      machine: heartbeat.machine,
      lastGoodPass: new Date(heartbeat.lastGoodPass).toISOString(),
      files: heartbeat.files,
      version: heartbeat.version,
    });
  }
  return machines;
}

/** `fedsync status`: per set what the journal and the running agent say, and the federation's heartbeats. */
export async function statusCommand(options: GlobalOptions & { json?: boolean }): Promise<number> {
  const config = loadConfigOrExit(options);
  const journal = Journal.open(config.stateDir, { readonly: true });
  const agent = readAgentStatus(config.stateDir);
  const sets: SetStatus[] = [];
  let unreachable = false;
  try {
    for (const set of config.sets) {
      const state = journal.getSetState(set.name);
      const status: SetStatus = {
        name: set.name,
        method: set.method,
        path: set.path,
        state: agent?.sets[set.name]?.state ?? "agent not running",
        notifications: agent?.sets[set.name]?.notifications,
        files: journal.countFiles(set.name),
        pending: journal.countPending(set.name),
        conflicts: journal.listConflicts(set.name).length,
        lastPass: state.lastGoodSync === null ? null : new Date(state.lastGoodSync).toISOString(),
        lastPassSeconds: state.lastPassMs === null ? null : state.lastPassMs / 1000,
        lastError: state.lastError,
        problems: agent?.sets[set.name]?.problems?.count ?? null,
        lastProblem: agent?.sets[set.name]?.problems?.last ?? null,
        machines: [],
      };
      try {
        status.machines = await readHeartbeats(config, set.name);
      } catch (error) {
        unreachable = true;
        status.machinesError = error instanceof Error ? error.message : String(error);
      }
      sets.push(status);
    }
  } finally {
    journal.close();
  }
  if (options.json) {
    process.stdout.write(
      JSON.stringify({ machine: config.machine, agentPid: agent?.pid ?? null, sets }, null, 2) + "\n",
    );
  } else {
    process.stdout.write(
      `machine ${config.machine}: ${agent ? `agent running (pid ${agent.pid})` : "agent not running"}\n`,
    );
    for (const s of sets) {
      const last = s.lastPass
        ? `${formatAgo(Date.parse(s.lastPass))} in ${s.lastPassSeconds?.toFixed(1)} s`
        : "never";
      const notifications = s.notifications ? `; bucket notifications ${s.notifications}` : "";
      const problems = s.problems ? `; ${s.problems} not synced (last: ${s.lastProblem})` : "";
      process.stdout.write(
        `${s.name} (${s.method}, ${s.path}): ${s.state}${notifications}; ${s.files} files; last pass ${last}; ` +
          `${s.pending} pending; ${s.conflicts} conflicts${problems}${s.lastError ? `; last error: ${s.lastError}` : ""}\n`,
      );
      for (const m of s.machines) {
        process.stdout.write(
          `  ${m.machine}: last good pass ${formatAgo(Date.parse(m.lastGoodPass))}, ${m.files} files, v${m.version}\n`,
        );
      }
      if (s.machinesError) process.stdout.write(`  federation unknown: ${s.machinesError}\n`);
    }
  }
  return unreachable ? EXIT_FAILURE : EXIT_OK;
}
