import { existsSync } from "node:fs";
import { join } from "node:path";
import { createMinioDatastore } from "../datastore/index.js";
import { JOURNAL_FILE } from "../journal/journal-file.js";
import { Journal } from "../journal/journal.js";
import { lagBehind, newestChange, readLogSpan } from "../reconcile/fleet.js";
import { readHeartbeats } from "../reconcile/heartbeat.js";
import type { Config } from "../config/types.js";
import { readAgentStatus, type AgentStatus } from "../agent/status-file.js";
import { EXIT_FAILURE, EXIT_OK } from "./exit.js";
import { formatAgo, formatEntryCounts, formatSpan, plural } from "./format.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";

export interface MachineStatus {
  machine: string;
  /** The machine `status` runs on. */
  thisMachine: boolean;
  lastGoodPass: string;
  /** Past `offline_after` without a good pass. */
  offline: boolean;
  /** The change log's time up to which it applied others' changes; null from a fedsync that does not say. */
  appliedThrough: string | null;
  /** Behind the newest change another machine made, in seconds: 0 once applied, null when unknown. */
  lagSeconds: number | null;
  /** Regular files; every entry for a machine whose fedsync predates `directories`. */
  files: number;
  directories?: number;
  symlinks?: number;
  version: string;
}

export interface SetStatus {
  name: string;
  method: string;
  path: string;
  /** What the running agent is doing with the set; null when no agent runs. */
  state: string | null;
  /** Lightweight sets while the agent runs: healthy, reconnecting or unsupported. */
  notifications?: string;
  files: number;
  directories: number;
  symlinks: number;
  pending: number;
  conflicts: number;
  lastPass: string | null;
  lastPassSeconds: number | null;
  lastError: string | null;
  /** Entries the agent's last full pass could not sync (null when no agent runs), and the last of them. */
  problems: number | null;
  lastProblem: string | null;
  /** The newest record in the set's change log, whoever wrote it. */
  newestChange: string | null;
  machines: MachineStatus[];
}

interface SetFederation {
  newestChange: string | null;
  machines: MachineStatus[];
}

interface Federation {
  sets: Map<string, SetFederation>;
  error?: string;
}

const isoTime = (at: number | undefined) => (at === undefined ? null : new Date(at).toISOString());

/**
 * Every set's heartbeats, and how far each machine is behind the set's change log; one failure (the bucket
 * unreachable) ends the reading and is reported once.
 */
async function readFederation(config: Config): Promise<Federation> {
  const datastore = createMinioDatastore(config.datastore, { retries: 0 });
  const sets = new Map<string, SetFederation>();
  const now = Date.now();
  try {
    for (const set of config.sets) {
      const heartbeats = await readHeartbeats(datastore, set.name);
      const span = await readLogSpan(datastore, set.name);
      const machines = heartbeats.map((h): MachineStatus => {
        const lag = lagBehind(span, h.machine, h.appliedThrough, now, config.logRetentionMs);
        return {
          machine: h.machine,
          thisMachine: h.machine === config.machine,
          lastGoodPass: new Date(h.lastGoodPass).toISOString(),
          offline: now - h.lastGoodPass > config.offlineAfterMs,
          appliedThrough: isoTime(h.appliedThrough),
          lagSeconds: lag === undefined ? null : lag / 1000,
          files: h.files,
          directories: h.directories,
          symlinks: h.symlinks,
          version: h.version,
        };
      });
      sets.set(set.name, { newestChange: isoTime(newestChange(span)), machines });
    }
    return { sets };
  } catch (error) {
    return { sets, error: error instanceof Error ? error.message : String(error) };
  }
}

function setStatuses(config: Config, journal: Journal | undefined, agent: AgentStatus | undefined) {
  return config.sets.map((set): SetStatus => {
    const state = journal?.getSetState(set.name);
    const counts = journal?.countByType(set.name) ?? { files: 0, directories: 0, symlinks: 0 };
    return {
      name: set.name,
      method: set.method,
      path: set.path,
      state: agent ? (agent.sets[set.name]?.state ?? "starting") : null,
      notifications: agent?.sets[set.name]?.notifications,
      ...counts,
      pending: journal?.countPending(set.name) ?? 0,
      conflicts: journal?.listConflicts(set.name).length ?? 0,
      lastPass: state?.lastGoodSync == null ? null : new Date(state.lastGoodSync).toISOString(),
      lastPassSeconds: state?.lastPassMs == null ? null : state.lastPassMs / 1000,
      lastError: state?.lastError ?? null,
      problems: agent?.sets[set.name]?.problems?.count ?? null,
      lastProblem: agent?.sets[set.name]?.problems?.last ?? null,
      newestChange: null,
      machines: [],
    };
  });
}

function setLine(s: SetStatus): string {
  const notifications = s.notifications ? `bucket notifications ${s.notifications}; ` : "";
  const head = `${s.name} (${s.method}, ${s.path}): ${s.state === null ? "" : `${s.state}; `}${notifications}`;
  if (s.lastPass === null && s.files + s.directories + s.symlinks === 0) {
    return `${head}never synced${s.lastError ? `; last error: ${s.lastError}` : ""}`;
  }
  const last = s.lastPass
    ? `last pass ${formatAgo(Date.parse(s.lastPass))} in ${s.lastPassSeconds?.toFixed(1)} s`
    : "no full pass yet";
  return (
    `${head}${formatEntryCounts(s)}; ${last}; ${s.pending} pending; ${plural(s.conflicts, "conflict")}` +
    (s.problems ? `; ${s.problems} not synced (last: ${s.lastProblem})` : "") +
    (s.lastError ? `; last error: ${s.lastError}` : "")
  );
}

/** `3 machines, 1 offline, 1 behind; newest change 4s ago`. */
function federationLine(s: SetStatus): string {
  const offline = s.machines.filter((m) => m.offline).length;
  const behind = s.machines.filter((m) => m.lagSeconds !== null && m.lagSeconds > 0).length;
  const newest = s.newestChange
    ? `newest change ${formatAgo(Date.parse(s.newestChange))}`
    : "no change in the change log";
  return `  ${plural(s.machines.length, "machine")}, ${offline} offline, ${behind} behind; ${newest}`;
}

function lagText(lagSeconds: number | null): string {
  if (lagSeconds === null) return "lag unknown";
  return lagSeconds === 0 ? "up to date" : `${formatSpan(Math.max(1000, lagSeconds * 1000))} behind`;
}

function machineLine(m: MachineStatus): string {
  const name = m.thisMachine ? `${m.machine} (this machine)` : m.machine;
  const offline = m.offline ? " (offline)" : "";
  return (
    `  ${name}: last good pass ${formatAgo(Date.parse(m.lastGoodPass))}${offline}; ${lagText(m.lagSeconds)}; ` +
    `${formatEntryCounts(m)}; v${m.version}`
  );
}

/**
 * `fedsync status`: per set what the journal and the running agent say, and the federation's heartbeats.
 * A machine that never ran the agent (no journal yet) is not an error; an unreachable bucket is.
 */
export async function statusCommand(options: GlobalOptions & { json?: boolean }): Promise<number> {
  const config = loadConfigOrExit(options);
  const hasJournal = existsSync(join(config.stateDir, JOURNAL_FILE));
  const journal = hasJournal ? Journal.open(config.stateDir, { readonly: true }) : undefined;
  const agent = readAgentStatus(config.stateDir);
  let sets: SetStatus[];
  try {
    sets = setStatuses(config, journal, agent);
  } finally {
    journal?.close();
  }
  const federation = await readFederation(config);
  for (const set of sets) Object.assign(set, federation.sets.get(set.name));
  if (options.json) {
    const report = {
      machine: config.machine,
      agentPid: agent?.pid ?? null,
      agentState: agent?.state ?? null,
      sets,
      federationError: federation.error ?? null,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  } else {
    const running = agent
      ? `agent running (pid ${agent.pid})${agent.state ? `: ${agent.state}` : ""}`
      : "agent not running";
    process.stdout.write(`machine ${config.machine}: ${running}\n`);
    for (const set of sets) {
      process.stdout.write(`${setLine(set)}\n`);
      if (set.machines.length > 0) process.stdout.write(`${federationLine(set)}\n`);
      for (const machine of set.machines) process.stdout.write(`${machineLine(machine)}\n`);
    }
    if (federation.error) process.stdout.write(`federation unknown: ${federation.error}\n`);
  }
  return federation.error ? EXIT_FAILURE : EXIT_OK;
}
