import { resolveConfigPath } from "../config/index.js";
import { Journal } from "../journal/journal.js";
import { acquireStateLock } from "../journal/lock.js";
import { killRunningHooks } from "../hooks/command.js";
import { removeActiveTemps } from "../reconcile/temp-files.js";
import { loadConfigOrExit, type GlobalOptions } from "./load-config.js";
import { loggerFor } from "./runtime.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exit.js";
import { Agent } from "../agent/agent.js";
import { createNotifier, NotifyUnavailableError, type Notifier } from "../agent/notify.js";

/** Longest wait for in-flight passes on SIGTERM before the agent abandons them (removing its temp files). */
const STOP_GRACE_MS = 20_000;

/**
 * `fedsync run`: the agent, until SIGTERM or SIGINT. Exits 2 at once when it cannot do its part of the
 * systemd protocol, like a bad config: the unit's RestartPreventExitStatus=2 then stops the restarts.
 */
export async function runCommand(options: GlobalOptions): Promise<number> {
  const config = loadConfigOrExit(options);
  const logger = loggerFor(config);
  let notifier: Notifier;
  try {
    notifier = createNotifier();
  } catch (error) {
    if (!(error instanceof NotifyUnavailableError)) throw error;
    logger.error(error.message);
    return EXIT_USAGE;
  }
  const lock = acquireStateLock(config.stateDir);
  const journal = Journal.open(config.stateDir);
  // Changes the last agent was writing when it died may be in the bucket: the first pass publishes their records.
  journal.adoptUnfinishedChanges();
  const agent = new Agent({
    config,
    configPath: resolveConfigPath(options.config),
    journal,
    logger,
    notifier,
  });

  let reloading = Promise.resolve();
  const onHangup = () => {
    reloading = reloading.then(() => agent.reload());
  };
  process.on("SIGHUP", onHangup);

  const stopped = new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  // A stop while the agent still waits for the datastore ends that wait.
  void stopped.then(() => agent.cancelStart());
  try {
    await agent.start();
    const signal = await stopped;
    logger.info(`received ${signal}`);
    await reloading;
    const finished = await Promise.race([
      agent.stop().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_GRACE_MS).unref()),
    ]);
    if (!finished) {
      logger.warn("in-flight transfers abandoned after the stop grace period; no partial files left");
      const killed = killRunningHooks();
      if (killed > 0) logger.warn(`killed ${killed} hook(s) still running after the stop grace period`);
    }
    return EXIT_OK;
  } catch (error) {
    logger.error(`agent failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILURE;
  } finally {
    removeActiveTemps();
    process.off("SIGHUP", onHangup);
    journal.close();
    lock.release();
    logger.info("stopped");
  }
}
