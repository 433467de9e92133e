import { isDeepStrictEqual } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config/index.js";
import { createMinioDatastore } from "../datastore/index.js";
import { logRequestCounts, requestStatsEnabled } from "../datastore/request-stats.js";
import type { Datastore } from "../datastore/types.js";
import type { Journal } from "../journal/journal.js";
import { registerSecret, type Logger } from "../log/index.js";
import { AgentMetrics } from "../metrics/agent-metrics.js";
import { serveMetrics, type MetricsServer } from "../metrics/server.js";
import { FEDSYNC_VERSION } from "../version.js";
import type { NotificationHealth } from "../watch/notifications.js";
import { Backoff, isDatastoreTrouble, troubleLabel, troubleLine } from "./backoff.js";
import type { Notifier } from "./notify.js";
import { setEvents } from "./set-events.js";
import { SetRunner, type Health } from "./set-runner.js";
import { writeAgentStatus, type AgentStatus, type SetProblems } from "./status-file.js";

/** How often the scheduler proves it is alive; the watchdog is fed only while this keeps ticking. */
const TICK_MS = 1000;
/** STATUS= and the status file are rewritten at most this often. */
const STATUS_THROTTLE_MS = 500;
/** With FEDSYNC_REQUEST_STATS=1, the requests made so far are logged this often (and on stop). */
const REQUEST_STATS_MS = 60_000;

export interface AgentDeps {
  config: Config;
  configPath: string;
  journal: Journal;
  logger: Logger;
  notifier: Notifier;
}

/** The long-running agent: one SetRunner per set, reload, stop, health, status and the watchdog. */
export class Agent {
  private config: Config;
  private datastore: Datastore;
  private runners = new Map<string, SetRunner>();
  /** Per set: waits for its hooks once its runner has stopped. */
  private hooksDone = new Map<string, () => Promise<void>>();
  private readonly metrics: AgentMetrics;
  private metricsServer?: { listen: string; server: MetricsServer };
  private states = new Map<string, string>();
  private problems = new Map<string, SetProblems>();
  private notifications = new Map<string, NotificationHealth>();
  private readonly startedAt = Date.now();
  private lastTick = Date.now();
  private tickTimer?: NodeJS.Timeout;
  private watchdogTimer?: NodeJS.Timeout;
  private statusTimer?: NodeJS.Timeout;
  private requestStatsTimer?: NodeJS.Timeout;
  /** What keeps the agent from the datastore (troubleLabel), while that lasts. */
  private outage?: string;
  /** When the datastore last answered again after an outage. */
  private backAt?: number;
  /** Agent-wide state while it is not yet running its sets (waiting for the datastore). */
  private startupState?: string;
  private stopRequested = false;
  /** Set once start() has started the sets and reported READY=1. */
  private running = false;
  private wakeStart?: () => void;

  constructor(private readonly deps: AgentDeps) {
    this.config = deps.config;
    this.metrics = new AgentMetrics({ journal: deps.journal, sets: () => this.config.sets });
    this.datastore = this.createDatastore(deps.config);
  }

  private createDatastore(config: Config): Datastore {
    return createMinioDatastore(config.datastore, { onRequest: this.metrics.datastoreRequest });
  }

  private readonly health: Health = {
    down: (error) => {
      const label = troubleLabel(error);
      if (this.outage !== label) this.deps.logger.error(troubleLine(error));
      this.outage = label;
    },
    up: () => {
      const settleMs = this.config.settleAfterOutageMs;
      if (this.outage !== undefined) {
        this.outage = undefined;
        this.backAt = Date.now();
        this.deps.logger.info(
          settleMs > 0
            ? `datastore up again; syncing resumes in ${settleMs / 1000} s (settle_after_outage)`
            : "datastore up again",
        );
      }
      return this.backAt === undefined ? 0 : this.backAt + settleMs - Date.now();
    },
  };

  /**
   * Waits until the datastore accepts a request (1 s, doubling to 60 s, between tries), then starts every
   * set and reports READY=1. Returns early, without READY=1, when stop() is called meanwhile.
   */
  async start(): Promise<void> {
    const { logger, notifier } = this.deps;
    await this.serveMetrics();
    this.tickTimer = setInterval(() => (this.lastTick = Date.now()), TICK_MS);
    const watchdogMs = notifier.watchdogIntervalMs();
    if (watchdogMs !== undefined) {
      this.watchdogTimer = setInterval(() => {
        if (Date.now() - this.lastTick < Math.max(3 * TICK_MS, watchdogMs)) notifier.watchdog();
      }, watchdogMs);
    }
    if (requestStatsEnabled()) {
      this.requestStatsTimer = setInterval(() => logRequestCounts(logger, this.datastore), REQUEST_STATS_MS);
    }
    if (!(await this.waitForAccess())) return;
    for (const set of this.config.sets) await this.startRunner(set.name);
    this.running = true;
    notifier.ready();
    logger.info(
      `fedsync ${FEDSYNC_VERSION} ready: machine ${this.config.machine}, ${this.config.sets.length} set(s)`,
      {
        sets: this.config.sets.map((set) => `${set.name}:${set.method}`).join(","),
      },
    );
    this.publishStatus();
  }

  /** True once the datastore answered; false when stopped first. */
  private async waitForAccess(): Promise<boolean> {
    const backoff = new Backoff();
    while (!this.stopRequested) {
      try {
        await this.datastore.check();
        const settleMs = this.health.up();
        if (settleMs > 0) {
          this.startupState = `datastore back; starting in ${Math.ceil(settleMs / 1000)}s`;
          this.publishStatus();
          await this.pause(settleMs);
        }
        this.startupState = undefined;
        return !this.stopRequested;
      } catch (error) {
        if (!isDatastoreTrouble(error)) throw error;
        this.health.down(error);
        const delayMs = backoff.next();
        this.startupState = `waiting for the datastore: ${troubleLabel(error)}; retrying in ${delayMs / 1000}s`;
        this.deps.logger.debug(`access check failed; retrying in ${delayMs / 1000} s`);
        this.publishStatus();
        if (this.stopRequested) break;
        await this.pause(delayMs);
      }
    }
    return false;
  }

  /** Waits `ms` during start-up, or less when stop() is called. */
  private async pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeStart = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeStart = undefined;
  }

  private async startRunner(name: string) {
    const set = this.config.sets.find((s) => s.name === name);
    if (!set) return;
    const { events, stop } = setEvents(
      this.config,
      set,
      this.metrics,
      this.deps.logger.child({ set: set.name }),
    );
    const runner = new SetRunner({
      config: this.config,
      set,
      journal: this.deps.journal,
      datastore: this.datastore,
      logger: this.deps.logger,
      health: this.health,
      onState: (state) => this.setState(set.name, state),
      // Published with the state the runner reports right after.
      onProblems: (problems) => this.problems.set(set.name, problems),
      onNotifications: (health) => {
        this.notifications.set(set.name, health);
        this.setState(set.name, this.states.get(set.name) ?? "starting");
      },
      events,
    });
    this.runners.set(set.name, runner);
    this.hooksDone.set(set.name, stop);
    this.states.set(set.name, "starting");
    if (set.method === "lightweight") this.notifications.set(set.name, "reconnecting");
    await runner.start();
  }

  /** Stops a set's runner, then lets its hooks finish what the last passes asked of them. */
  private async stopRunner(name: string) {
    await this.runners.get(name)?.stop();
    await this.hooksDone.get(name)?.();
    this.runners.delete(name);
    this.hooksDone.delete(name);
  }

  /** Serves metrics on `metrics.listen`, moving the server when the address changed; a bind failure is logged. */
  private async serveMetrics() {
    const listen = this.config.metrics?.listen;
    if (this.metricsServer?.listen === listen) return;
    await this.metricsServer?.server.close();
    this.metricsServer = undefined;
    if (listen === undefined) return;
    try {
      this.metrics.includeProcessMetrics();
      const server = await serveMetrics(listen, this.metrics.registry);
      this.metricsServer = { listen, server };
      this.deps.logger.info(`metrics on http://${server.address}/metrics`);
    } catch (error) {
      this.deps.logger.error(
        `${error instanceof Error ? error.message : String(error)}; running without metrics (fix metrics.listen and reload)`,
      );
    }
  }

  private setState(set: string, state: string) {
    this.states.set(set, state);
    this.statusTimer ??= setTimeout(() => {
      this.statusTimer = undefined;
      this.publishStatus();
    }, STATUS_THROTTLE_MS);
  }

  private publishStatus() {
    const parts = [...this.states].map(([set, state]) => `${set}: ${state}`);
    const agentState = this.startupState ?? this.outage;
    this.deps.notifier.status((agentState ? [agentState, ...parts] : parts).join("; "));
    const status: AgentStatus = {
      pid: process.pid,
      startedAt: this.startedAt,
      updatedAt: Date.now(),
      ...(agentState && { state: agentState }),
      sets: Object.fromEntries(
        [...this.states].map(([set, state]) => [
          set,
          { state, problems: this.problems.get(set), notifications: this.notifications.get(set) },
        ]),
      ),
    };
    try {
      writeAgentStatus(this.config.stateDir, status);
    } catch (error) {
      this.deps.logger.warn(
        `cannot write the status file: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  /** SIGHUP: re-read the config; keep unchanged sets running, stop removed ones, start new or changed ones. */
  async reload(): Promise<void> {
    const { logger, notifier } = this.deps;
    // Before READY=1 there is nothing to announce: the new config is the one start() goes on with.
    const announce = this.running;
    if (announce) notifier.reloading();
    let next: Config;
    try {
      next = loadConfig(this.deps.configPath);
      registerSecret(next.datastore.secretAccessKey);
    } catch (error) {
      const problems =
        error instanceof ConfigError
          ? error.inline()
          : error instanceof Error
            ? error.message
            : String(error);
      logger.error(`reload refused, keeping the running config: ${problems}`);
      if (announce) notifier.ready();
      return;
    }
    if (next.stateDir !== this.config.stateDir || next.machine !== this.config.machine) {
      logger.warn("state_dir and machine changes take effect only after a restart");
      next = { ...next, stateDir: this.config.stateDir, machine: this.config.machine };
    }
    const datastoreChanged = !isDeepStrictEqual(next.datastore, this.config.datastore);
    // The metrics server moves on its own; the sets need not restart for it.
    const globalsChanged = !isDeepStrictEqual(
      { ...next, sets: [], source: "", metrics: undefined },
      { ...this.config, sets: [], source: "", metrics: undefined },
    );
    const previous = this.config;
    this.config = next;
    if (datastoreChanged) this.datastore = this.createDatastore(next);
    await this.serveMetrics();
    if (!announce) {
      logger.info(`reloaded ${this.deps.configPath} while waiting for the datastore; trying it now`);
      this.wakeStart?.();
      return;
    }
    for (const [name, runner] of [...this.runners]) {
      const updated = next.sets.find((set) => set.name === name);
      if (updated && !globalsChanged && isDeepStrictEqual(updated, runner.set)) continue;
      await this.stopRunner(name);
      this.states.delete(name);
      this.problems.delete(name);
      this.notifications.delete(name);
    }
    const added: string[] = [];
    for (const set of next.sets) {
      if (this.runners.has(set.name)) continue;
      await this.startRunner(set.name);
      added.push(set.name);
    }
    const removed = previous.sets
      .filter((set) => !next.sets.some((s) => s.name === set.name))
      .map((s) => s.name);
    logger.info(`reloaded ${this.deps.configPath}`, {
      started: added.join(",") || undefined,
      removed: removed.join(",") || undefined,
    });
    notifier.ready();
    this.publishStatus();
  }

  /** Ends a start() still waiting for the datastore; stop() follows. */
  cancelStart(): void {
    this.stopRequested = true;
    this.wakeStart?.();
  }

  /** SIGTERM: stop scheduling, let in-flight passes finish, then return. */
  async stop(): Promise<void> {
    this.cancelStart();
    this.deps.notifier.stopping();
    this.deps.logger.info("stopping: finishing the passes in progress");
    clearInterval(this.tickTimer);
    clearInterval(this.watchdogTimer);
    clearTimeout(this.statusTimer);
    clearInterval(this.requestStatsTimer);
    await Promise.all([...this.runners.keys()].map((name) => this.stopRunner(name)));
    await this.metricsServer?.server.close();
    this.metricsServer = undefined;
    if (requestStatsEnabled()) logRequestCounts(this.deps.logger, this.datastore);
  }
}
